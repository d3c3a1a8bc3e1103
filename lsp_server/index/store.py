"""The index on disk: one SQLite file per workspace folder in the user cache, so a restart on a
large repository re-reads only the files that changed (keyed by path + mtime + size, with a
content hash to tell a touched file from an edited one).

The store is a cache of the index in memory, so a fault costs persistence, never the index nor
a request; it is opened lazily, on the scan's or the watcher's thread, never on the event loop.
Each fault is told once (``report``), when it starts:

- corrupt (not a database, a malformed page): the file is deleted and created again, then
  filled from the index in memory (at start that is empty: the scan reads every file again);
- locked by another process: a statement waits at most ``BUSY_TIMEOUT_S``, then the rows are
  kept pending and written on a retry ``RETRY_S`` later;
- not writable (a read-only or missing cache folder, a full disk): the same as locked.

Pending rows are at most one per file of the folder (a later change of a file replaces its
row), the index's own size; rows still pending at ``close`` are dropped, which costs reading
those files again at the next start.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TypeVar

from lsp_server.index.symbols import FileSymbols, Import, Symbol
from lsp_server.paths import cache_dir
from lsp_server.sqlite_faults import BUSY_TIMEOUT_S, fault_of, remove_database

log = logging.getLogger(__name__)

SCHEMA_VERSION = "1"
RETRY_S = 30.0  # after a fault, how long before the store is tried again

INDEX_DIR_ENV = "INFILL_LSP_INDEX_DIR"

T = TypeVar("T")
Report = Callable[[str], None]


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
    """SQLite persistence of one folder's index; every failure degrades to "not stored yet".

    ``refill``: the rows of the index in memory, to fill a store created again after it was
    found corrupt."""

    def __init__(
        self,
        path: Path,
        report: Report | None = None,
        refill: Callable[[], dict[str, Stored]] | None = None,
    ) -> None:
        self.path = path
        self.report: Report = report or (lambda message: log.warning("%s", message))
        self.refill = refill or dict
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._pending: dict[str, Stored | None] = {}  # None: a row to delete
        self._fault = ""  # the fault told last, until a write succeeds
        self._retry_at = 0.0
        self._timer: threading.Timer | None = None
        self._closed = False

    # -- the operations ----------------------------------------------------------------------
    def load(self) -> dict[str, Stored]:
        with self._lock:
            rows = self._attempt(lambda db: db.execute("SELECT * FROM files").fetchall())
        out: dict[str, Stored] = {}
        for path, mtime_ns, size, digest, language, symbols, imports in rows or ():
            try:
                out[path] = Stored(mtime_ns, size, digest, language, _decode(symbols, imports))
            except (ValueError, TypeError):
                continue  # a row of an older shape: indexed again
        return out

    def save(self, rows: dict[str, Stored]) -> None:
        self.write(rows)

    def delete(self, paths: list[str]) -> None:
        self.write(dict.fromkeys(paths))

    def write(self, rows: dict[str, Stored | None]) -> None:
        """Rows to write (None: a row to delete), in one transaction."""
        if not rows:
            return
        with self._lock:
            self._pending.update(rows)
            self._attempt(lambda db: None)

    def retry(self) -> None:
        """Write what is pending, if the fault's wait is over (the retry timer calls it)."""
        with self._lock:
            self._timer, self._retry_at = None, 0.0
            self._attempt(lambda db: None)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
            if self._pending:
                log.info("%d index rows not written to %s", len(self._pending), self.path)
            self._disconnect()

    # -- the machinery -----------------------------------------------------------------------
    def _attempt(self, work: Callable[[sqlite3.Connection], T]) -> T | None:
        """Write what is pending, then ``work``; a fault is told (once) and gives None.
        Called under the lock."""
        if self._closed:
            return None
        if time.monotonic() < self._retry_at:
            self._schedule()
            return None
        for rebuilt in (False, True):
            try:
                if self._db is None:
                    self._db = self._connect()
                self._flush(self._db)
                result = work(self._db)
            except (OSError, sqlite3.Error) as exc:
                self._disconnect()  # rolls back what the failed transaction began
                fault = fault_of(exc)
                if fault == "corrupt" and not rebuilt and self._remove_files(exc):
                    self._pending = {**self.refill(), **self._pending}
                    continue
                self._failed(fault, exc)
                return None
            if self._fault:
                log.info("index store %s is written again", self.path)
                self._fault = ""
            return result
        return None

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT_S, check_same_thread=False)
        try:
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
        except BaseException:
            db.close()
            raise
        return db

    def _flush(self, db: sqlite3.Connection) -> None:
        if not self._pending:
            return
        gone = [(p,) for p, row in self._pending.items() if row is None]
        rows = [
            (p, r.mtime_ns, r.size, r.digest, r.language, *_encode(r.symbols))
            for p, r in self._pending.items()
            if r is not None
        ]
        db.executemany("DELETE FROM files WHERE path = ?", gone)
        db.executemany("INSERT OR REPLACE INTO files VALUES (?,?,?,?,?,?,?)", rows)
        db.commit()
        self._pending = {}

    def _remove_files(self, exc: Exception) -> bool:
        """A corrupt store: delete it (and its journals) so that it is created again."""
        try:
            remove_database(self.path)
        except OSError as err:
            self._failed("unwritable", err)
            return False
        self.report(f"index store {self.path} was corrupt ({exc}): deleted and rebuilt")
        return True

    def _failed(self, fault: str, exc: Exception) -> None:
        """Tell a new fault once, and try again in ``RETRY_S``."""
        if fault != self._fault:
            self._fault = fault
            self.report(_MESSAGES.get(fault, _MESSAGES["unwritable"]).format(self.path, exc))
        self._retry_at = time.monotonic() + RETRY_S
        self._schedule()

    def _schedule(self) -> None:
        """A retry of what is pending when the wait is over (no write may come to do it)."""
        if self._pending and self._timer is None and not self._closed:
            wait = max(0.0, self._retry_at - time.monotonic())
            self._timer = threading.Timer(wait, self.retry)
            self._timer.daemon = True
            self._timer.start()

    def _disconnect(self) -> None:
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None


_MESSAGES = {
    "locked": (
        "index store {} is locked by another process ({}): the index is kept in memory and "
        f"written when the lock is gone (tried again every {RETRY_S:.0f} s)"
    ),
    "unwritable": (
        "index store {} cannot be written ({}): the index is kept in memory only (tried again "
        f"every {RETRY_S:.0f} s; until then a restart reads every file again)"
    ),
    "corrupt": "index store {} is corrupt and cannot be rebuilt ({})",
}
