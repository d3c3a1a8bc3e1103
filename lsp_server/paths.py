"""Where files are, said once: the one way a path is made canonical, and the user cache.

A file can be named by several paths (the editor's path through a symlinked folder, the
index's resolved path); every cache keyed by a file uses ``canonical`` so both names share one
entry. ``cache_dir`` is the user cache every store of ours lives under (joined models, the
``model: auto`` verdicts, the SQLite index).
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path

CACHE_ENV = "INFILL_LSP_CACHE"
# A document key that is a URI, not a path (``untitled:Untitled-1``); one letter is a drive.
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:")


def canonical(path: str) -> str:
    """The resolved absolute path of a file (symlinks followed, a relative path taken from the
    working directory); a key that is not a file path (an ``untitled:`` document's URI) or ""
    comes back as it is. Absolute paths are cached: it runs on every keystroke's request (a
    link changed under a running server is seen after the cache turns over)."""
    if not path or _URI.match(path):
        return path
    if os.path.isabs(path):
        return _resolved(path)
    return str(Path(path).resolve())


@functools.lru_cache(maxsize=1024)
def _resolved(path: str) -> str:
    return str(Path(path).resolve())


def cache_dir() -> Path:
    """``$INFILL_LSP_CACHE`` or the platform's user cache dir."""
    override = os.environ.get(CACHE_ENV, "").strip()
    if override:
        return Path(override).expanduser().absolute()
    import platformdirs  # deferred: only needed when no override is set

    return Path(platformdirs.user_cache_dir("infill-lsp")).absolute()
