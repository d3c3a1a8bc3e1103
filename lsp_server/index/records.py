"""What the index holds per file and per folder, and what tells a changed file from an
unchanged one (its size and mtime, as the store keeps them)."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from lsp_server.index.files import FileFilter
from lsp_server.index.store import IndexStore, Stored
from lsp_server.index.symbols import FileSymbols


@dataclass
class Entry:
    language: str
    symbols: FileSymbols
    digest: str = ""
    mtime_ns: int = 0  # the file's when it was read (0: unknown)
    size: int = 0

    def stored(self) -> Stored:
        return Stored(self.mtime_ns, self.size, self.digest, self.language, self.symbols)


@dataclass
class Live:
    """An open document's text (newer than the disk), re-parsed lazily."""

    text: str
    language: str
    parsed: FileSymbols | None = None


@dataclass
class Folder:
    root: Path
    filter: FileFilter
    store: IndexStore | None
    files: int = 0
    scan_ms: float = 0.0
    reused: int = 0  # files taken from the store unchanged on the last scan


@dataclass
class IndexStats:
    folders: int = 0
    files: int = 0
    symbols: int = 0
    last_scan_ms: float = 0.0
    reused: int = 0
    updates: int = 0
    last_update_ms: float = 0.0

    def to_wire(self) -> dict[str, float | int]:
        return {
            "folders": self.folders,
            "files": self.files,
            "symbols": self.symbols,
            "lastScanMs": round(self.last_scan_ms, 1),
            "reused": self.reused,
            "updates": self.updates,
            "lastUpdateMs": round(self.last_update_ms, 2),
        }


def file_stat(path: Path) -> os.stat_result | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st if stat.S_ISREG(st.st_mode) else None


def stamp(st: os.stat_result) -> tuple[int, int]:
    """What tells a changed file from an unchanged one: (mtime_ns, size)."""
    return st.st_mtime_ns, st.st_size
