"""Which files of a workspace enter the index, and which never do.

Never: anything a `.gitignore` or `.infillignore` (any folder, gitignore syntax) or the
``repoIgnore`` setting excludes; vendored and environment folders (node_modules, .venv,
site-packages, build outputs, VCS folders); files over 1 MB; binaries; and files that look like
secrets (.env, *.pem, id_rsa, credentials, ...) -- those must never reach a prompt, whatever the
ignore files say. Only languages we have a grammar for are indexed.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pathspec

from lsp_server.paths import canonical
from lsp_server.syntax.languages import normalise

MAX_FILE_BYTES = 1_000_000
IGNORE_FILES = (".gitignore", ".infillignore")

# Folder names skipped wherever they appear (environments, dependencies, build outputs, VCS).
SKIPPED_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        "node_modules",
        "bower_components",
        ".venv",
        "venv",
        "env",
        ".env",
        ".tox",
        ".nox",
        "site-packages",
        "dist-packages",
        "__pycache__",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        "build",
        "dist",
        "target",
        "out",
        ".next",
        ".cache",
        "vendor",
        "third_party",
        ".idea",
        ".vscode",
        ".eggs",
    }
)

# File names (case-insensitive globs) that look like secrets: never indexed, never in a prompt.
SECRET_PATTERNS = (
    ".env",
    ".env.*",
    "*.env",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "*.jks",
    "*.keystore",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
    "*credentials*",
    "*secret*",
    ".netrc",
    ".npmrc",
    ".pypirc",
    "*.kdbx",
    "*.tfstate",
    "*.tfvars",
)


def looks_secret(path: str | os.PathLike[str]) -> bool:
    name = os.path.basename(path).lower()
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in SECRET_PATTERNS)


def looks_binary(head: bytes) -> bool:
    return b"\x00" in head


@dataclass
class FileFilter:
    """Decides, for one workspace folder, which paths are indexed."""

    root: Path
    extra_globs: tuple[str, ...] = ()  # the repoIgnore setting (gitignore syntax)
    max_bytes: int = MAX_FILE_BYTES
    _specs: dict[Path, pathspec.PathSpec | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.root = Path(canonical(str(self.root)))
        self._extra = pathspec.GitIgnoreSpec.from_lines(self.extra_globs)

    def _spec(self, folder: Path) -> pathspec.PathSpec | None:
        """The ignore rules a folder's own .gitignore/.infillignore state (cached)."""
        if folder not in self._specs:
            lines: list[str] = []
            for name in IGNORE_FILES:
                try:
                    lines += (
                        (folder / name).read_text(encoding="utf-8", errors="replace").split("\n")
                    )
                except OSError:
                    continue
            self._specs[folder] = pathspec.GitIgnoreSpec.from_lines(lines) if lines else None
        return self._specs[folder]

    def forget(self, folder: Path) -> None:
        """An ignore file changed: read it again next time."""
        self._specs.pop(folder, None)

    def _ignored_by_rules(self, path: Path, is_dir: bool) -> bool:
        try:
            rel = path.relative_to(self.root)
        except ValueError:
            return True  # outside this folder
        suffix = "/" if is_dir else ""
        if self._extra.match_file(rel.as_posix() + suffix):
            return True
        folder = path.parent
        while True:
            spec = self._spec(folder)
            if spec is not None and spec.match_file(path.relative_to(folder).as_posix() + suffix):
                return True
            if folder == self.root or folder.parent == folder:
                return False
            folder = folder.parent

    def skip_dir(self, path: Path) -> bool:
        return path.name in SKIPPED_DIRS or self._ignored_by_rules(path, True)

    def wanted(self, path: Path, size: int | None = None) -> bool:
        """Whether a file is indexed (content checks, like binary, are ``readable``'s)."""
        if not normalise(None, path.name) or looks_secret(path):
            return False
        if any(part in SKIPPED_DIRS for part in path.relative_to(self.root).parts[:-1]):
            return False
        if size is None:
            try:
                size = path.stat().st_size
            except OSError:
                return False
        if size > self.max_bytes:
            return False
        return not self._ignored_by_rules(path, False)

    def walk(self) -> Iterator[Path]:
        """Every indexed file under the root (ignored folders are not entered)."""
        return self.walk_from(self.root)

    def walk_from(self, start: Path) -> Iterator[Path]:
        """Every indexed file under ``start``, a folder inside the root."""
        if start != self.root and (start.name in SKIPPED_DIRS or self.skip_dir(start)):
            return
        for folder, dirs, files in os.walk(start):
            here = Path(folder)
            dirs[:] = sorted(d for d in dirs if not self.skip_dir(here / d))
            for name in sorted(files):
                path = here / name
                try:
                    stat = path.stat()
                except OSError:
                    continue
                if self.wanted(path, stat.st_size):
                    yield path


def read_source(path: Path, max_bytes: int = MAX_FILE_BYTES) -> str | None:
    """The file's text, or None for a binary, unreadable or oversized file."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if len(data) > max_bytes or looks_binary(data[:8192]):
        return None
    return data.decode("utf-8", errors="replace")


def under_any(path: Path, roots: Iterable[Path]) -> Path | None:
    """The deepest root holding ``path``."""
    holding = [r for r in roots if path == r or r in path.parents]
    return max(holding, key=lambda r: len(r.parts)) if holding else None


def inside_any(path: str, keys: set[str]) -> bool:
    """Whether ``path`` is one of ``keys`` or inside one of them."""
    while path not in keys:
        parent = os.path.dirname(path)
        if parent == path:
            return False
        path = parent
    return True
