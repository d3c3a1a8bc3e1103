"""The index on disk: one SQLite file per workspace folder in the user cache, so a restart on a
large repository re-reads only the files that changed (keyed by path + mtime + size, with a
content hash to tell a touched file from an edited one)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import threading
from dataclasses import asdict
from pathlib import Path

from lsp_server.index.symbols import FileSymbols, Import, Symbol
from lsp_server.paths import cache_dir

log = logging.getLogger(__name__)

SCHEMA_VERSION = "1"


INDEX_DIR_ENV = "INFILL_LSP_INDEX_DIR"


def store_path(root: Path) -> Path:
    """``$INFILL_LSP_INDEX_DIR`` or the user cache's index/ folder, one file per folder."""
    key = hashlib.sha1(str(root).encode("utf-8")).hexdigest()[:16]
    base = os.environ.get(INDEX_DIR_ENV, "").strip()
    folder = Path(base).expanduser() if base else cache_dir() / "index"
    return folder / f"{root.name or 'root'}-{key}.sqlite"


def content_hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8", errors="replace")).hexdigest()


class Stored:
    """One row: what the file was when it was indexed."""

    __slots__ = ("digest", "language", "mtime_ns", "size", "symbols")

    def __init__(
        self, mtime_ns: int, size: int, digest: str, language: str, symbols: FileSymbols
    ) -> None:
        self.mtime_ns, self.size, self.digest = mtime_ns, size, digest
        self.language, self.symbols = language, symbols


def _encode(symbols: FileSymbols) -> tuple[str, str]:
    return (
        json.dumps([list(asdict(s).values()) for s in symbols.symbols]),
        json.dumps([list(asdict(i).values()) for i in symbols.imports]),
    )


def _decode(symbols: str, imports: str) -> FileSymbols:
    return FileSymbols(
        tuple(Symbol(*row) for row in json.loads(symbols)),
        tuple(Import(*row) for row in json.loads(imports)),
    )


class IndexStore:
    """SQLite persistence of one folder's index; every failure degrades to "not stored"."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(str(path), check_same_thread=False)
            db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            row = db.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()
            if row is None or row[0] != SCHEMA_VERSION:
                db.execute("DROP TABLE IF EXISTS files")
                db.execute("INSERT OR REPLACE INTO meta VALUES ('version', ?)", (SCHEMA_VERSION,))
            db.execute(
                "CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, mtime_ns INTEGER, "
                "size INTEGER, digest TEXT, language TEXT, symbols TEXT, imports TEXT)"
            )
            db.commit()
            self._db = db
        except (OSError, sqlite3.Error) as exc:
            log.warning("index not persisted (%s): %s", path, exc)

    def load(self) -> dict[str, Stored]:
        if self._db is None:
            return {}
        with self._lock:
            try:
                rows = self._db.execute("SELECT * FROM files").fetchall()
            except sqlite3.Error as exc:
                log.warning("index store unreadable: %s", exc)
                return {}
        out: dict[str, Stored] = {}
        for path, mtime_ns, size, digest, language, symbols, imports in rows:
            try:
                out[path] = Stored(mtime_ns, size, digest, language, _decode(symbols, imports))
            except (ValueError, TypeError):
                continue  # a row of an older shape: indexed again
        return out

    def save(self, rows: dict[str, Stored]) -> None:
        if self._db is None or not rows:
            return
        data = [
            (p, r.mtime_ns, r.size, r.digest, r.language, *_encode(r.symbols))
            for p, r in rows.items()
        ]
        with self._lock:
            try:
                self._db.executemany("INSERT OR REPLACE INTO files VALUES (?,?,?,?,?,?,?)", data)
                self._db.commit()
            except sqlite3.Error as exc:
                log.warning("index store not written: %s", exc)

    def delete(self, paths: list[str]) -> None:
        if self._db is None or not paths:
            return
        with self._lock:
            try:
                self._db.executemany("DELETE FROM files WHERE path = ?", [(p,) for p in paths])
                self._db.commit()
            except sqlite3.Error as exc:
                log.warning("index store not written: %s", exc)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
