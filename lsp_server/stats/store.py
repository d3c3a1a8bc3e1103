"""Acceptance events on disk: one small SQLite file in the user cache, ``stats.sqlite3``, shared by
every server of the user (ids carry a random prefix per server run).

Rows carry ids, kinds, counts, lengths, the language id, the model's name, the mode, latencies
and times: never code text, never a file name; nothing leaves the machine. The file stays
small: the newest ``MAX_EVENTS`` events of the last ``MAX_AGE_DAYS`` days are kept (older ones
are deleted in the same transaction as an insert, every ``ROTATE_EVERY`` inserted rows).

Writes happen off the request path: ``add`` only appends to a list in memory; a timer thread
writes the batch ``FLUSH_S`` later, in one transaction. A fault costs the statistics, never a
request, and is told once (``report``) when it starts:

- corrupt (not a database, a malformed page): the file is deleted and created again;
- deleted under the open connection (``infill-lsp stats --delete`` while a server runs): it is
  opened again, silently;
- locked by another process, or not writable (a read-only cache, a full disk): the events stay
  in memory (at most ``MAX_PENDING``, the oldest dropped) and the next batch tries again.

The file is created by the first write only: with the ``stats`` setting off nothing is.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import astuple
from pathlib import Path

from lsp_server.paths import cache_dir
from lsp_server.sqlite_faults import BUSY_TIMEOUT_S, fault_of, remove_database
from lsp_server.stats.summary import ACCEPTS, KEPT, RANK, SHOWN, Event, Suggestion

log = logging.getLogger(__name__)

STATS_ENV = "INFILL_LSP_STATS"  # the file's path (tests keep theirs out of the user's cache)
FILE_NAME = "stats.sqlite3"
SCHEMA_VERSION = 1
MAX_EVENTS = 100_000
MAX_AGE_DAYS = 90
ROTATE_EVERY = 1_000
FLUSH_S = 5.0
MAX_PENDING = 10_000
_READONLY_DBMOVED = 1032  # SQLITE_READONLY | 4 << 8

Report = Callable[[str], None]

_COLUMNS = "ts, suggestion, kind, language, model, mode, chars, latency_ms"
_RANK_SQL = " ".join(f"WHEN '{kind}' THEN {rank}" for kind, rank in RANK.items())
_KEPT_SQL = ", ".join(f"SUM(CASE WHEN kind = '{k}' THEN chars END)" for k in KEPT)
_ACCEPTS_SQL = ", ".join(f"'{k}'" for k in ACCEPTS)
# One row per suggestion (the outcome rule of ``summary.RANK``, reduced in SQL).
SUGGESTIONS_SQL = f"""
SELECT MAX(language), MAX(model), MAX(mode), MAX(kind = '{SHOWN}'),
       MAX(CASE WHEN kind = '{SHOWN}' THEN latency_ms END),
       MAX(CASE kind {_RANK_SQL} END),
       SUM(CASE WHEN kind IN ({_ACCEPTS_SQL}) THEN chars ELSE 0 END),
       {_KEPT_SQL}
FROM events WHERE ts >= ? GROUP BY suggestion
"""


def stats_path() -> Path:
    """``$INFILL_LSP_STATS`` or ``stats.sqlite3`` in the user cache."""
    override = os.environ.get(STATS_ENV, "").strip()
    return Path(override).expanduser() if override else cache_dir() / FILE_NAME


class StoreUnreadable(Exception):
    """The file exists but cannot be read (corrupt, locked): the reason, for the CLI."""


class StatsStore:
    def __init__(self, path: Path, report: Report | None = None, flush_s: float = FLUSH_S) -> None:
        self.path = path
        self.report: Report = report or (lambda message: log.warning("%s", message))
        self.flush_s = flush_s
        self.fault = ""  # the fault told last, until a write succeeds
        self._pending: list[Event] = []
        self._pending_lock = threading.Lock()  # held for an append only: never waits on disk
        self._db_lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._timer: threading.Timer | None = None
        self._since_rotation = 0
        self._generation = 0  # moves on when what is pending is discarded
        self._closed = False

    # -- writing -----------------------------------------------------------------------------
    def add(self, event: Event) -> None:
        """Queue an event (O(1), any thread); it is written within ``flush_s``."""
        with self._pending_lock:
            if self._closed:
                return
            self._pending.append(event)
            if len(self._pending) > MAX_PENDING:
                del self._pending[: len(self._pending) - MAX_PENDING]
            if self._timer is None and self.flush_s > 0:
                self._timer = threading.Timer(self.flush_s, self._tick)
                self._timer.daemon = True
                self._timer.start()

    def _tick(self) -> None:
        with self._pending_lock:
            self._timer = None
        self.flush()

    def flush(self) -> bool:
        """Write what is pending, in one transaction (blocking: a timer thread, the CLI, the
        server's shutdown). False when it stays pending (a fault, told once)."""
        with self._db_lock:
            with self._pending_lock:
                batch, self._pending = self._pending, []
                generation = self._generation
            if not batch:
                return True
            for first in (True, False):
                try:
                    self._write(batch)
                except (OSError, sqlite3.Error) as exc:
                    self._disconnect()
                    if self._recovered(exc, first):
                        continue
                    self._requeue(batch, generation)
                    return False
                if self.fault:
                    log.info("stats file %s is written again", self.path)
                    self.fault = ""
                return True
        return False

    def _recovered(self, exc: Exception, first: bool) -> bool:
        """Whether a failed write may be tried again at once: the file was deleted under the
        open connection (another process's ``infill-lsp stats --delete``: reopened silently),
        or it was corrupt and is created again. Any other fault is told, once."""
        fault, why = fault_of(exc), ""
        if first and self._moved(exc):
            return True
        if first and fault == "corrupt":
            try:
                remove_database(self.path)
            except OSError as err:  # told once, as what it is now: a file not written
                fault, why = "unwritable", f"is corrupt ({exc}) and cannot be deleted ({err})"
            else:
                self.report(
                    f"stats file {self.path} was corrupt ({exc}): deleted and created again"
                )
                return True
        self._failed(fault, exc, why)
        return False

    def _moved(self, exc: Exception) -> bool:
        """SQLITE_READONLY_DBMOVED: the file of the open connection was deleted or moved."""
        code = getattr(exc, "sqlite_errorcode", None)  # Python >= 3.11
        if isinstance(code, int):
            return code == _READONLY_DBMOVED
        text = str(exc).lower()
        return "readonly database" in text and not self.path.exists()

    def _requeue(self, batch: list[Event], generation: int) -> None:
        """A batch that could not be written goes back in front, unless what was pending was
        discarded meanwhile (``stats`` switched off, the file deleted)."""
        with self._pending_lock:
            if generation != self._generation or self._closed:
                return
            self._pending[:0] = batch[-MAX_PENDING:]
            del self._pending[: max(0, len(self._pending) - MAX_PENDING)]

    def _write(self, batch: list[Event]) -> None:
        db = self._connection()
        with db:  # one transaction: the inserts and, now and then, the rotation
            db.executemany(
                f"INSERT INTO events ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?)",
                [astuple(e) for e in batch],
            )
            self._since_rotation += len(batch)
            if self._since_rotation >= ROTATE_EVERY:
                rotate(db, time.time())
                self._since_rotation = 0

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT_S, check_same_thread=False)
            try:
                _prepare(db)
                rotate(db, time.time())  # a file left by a long-running server, or an old one
                db.commit()
            except BaseException:
                db.close()
                raise
            self._db = db
        return self._db

    def _failed(self, fault: str, exc: Exception, why: str = "") -> None:
        if fault != self.fault:
            self.fault = fault
            if not why:
                how = "is locked by another process" if fault == "locked" else "cannot be written"
                why = f"{how} ({exc})"
            self.report(
                f"stats file {self.path} {why}: acceptance statistics are kept in memory and "
                "written when it can be"
            )

    # -- reading, deleting -------------------------------------------------------------------
    def suggestions(self, since: float = 0.0) -> list[Suggestion]:
        """Every suggestion with an event since ``since`` (unix time), reduced to one row;
        [] when there is no file. Raises ``StoreUnreadable`` when it cannot be read."""
        if not self.path.exists():
            return []
        try:
            # (a URI, so percent-encoded: a folder named with "#", "?" or "%" reads as itself)
            read_only = self.path.resolve().as_uri() + "?mode=ro"
            db = sqlite3.connect(read_only, uri=True, timeout=BUSY_TIMEOUT_S)
        except sqlite3.Error as exc:
            raise StoreUnreadable(f"{self.path}: {exc}") from exc
        try:
            if not db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'events'"
            ).fetchone():
                return []
            rows = db.execute(SUGGESTIONS_SQL, (since,)).fetchall()
        except sqlite3.Error as exc:
            raise StoreUnreadable(f"{self.path} ({fault_of(exc)}): {exc}") from exc
        finally:
            db.close()
        return [
            Suggestion(
                lang or "",
                model or "",
                mode or "",
                bool(shown),
                latency,
                rank,
                acc or 0,
                tuple(kept),
            )
            for lang, model, mode, shown, latency, rank, acc, *kept in rows
        ]

    def discard(self) -> None:
        """Forget what is pending (the ``stats`` setting was switched off), and a batch being
        written now if that write fails (it is not queued again)."""
        with self._pending_lock:
            self._pending = []
            self._generation += 1

    def delete(self) -> bool:
        """Delete the file (and what is pending); False when it could not be deleted."""
        with self._db_lock:
            self.discard()
            self._disconnect()
            try:
                remove_database(self.path)
            except OSError as exc:
                self.report(f"stats file {self.path} could not be deleted: {exc}")
                return False
            self.fault = ""
            return True

    def close(self, write: bool = True) -> None:
        """Write what is pending (nothing with ``write`` False: ``stats`` is off), then stop
        (the server's shutdown)."""
        with self._pending_lock:
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
        if write:
            self.flush()
        else:
            self.discard()
        with self._pending_lock:
            self._closed = True
        with self._db_lock:
            self._disconnect()

    def _disconnect(self) -> None:
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None


def _prepare(db: sqlite3.Connection) -> None:
    """The events table, as this version writes it (a file of another version starts over)."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version != SCHEMA_VERSION:
        db.execute("DROP TABLE IF EXISTS events")
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    db.execute(
        "CREATE TABLE IF NOT EXISTS events (ts REAL NOT NULL, suggestion TEXT NOT NULL, "
        "kind TEXT NOT NULL, language TEXT, model TEXT, mode TEXT, chars INTEGER, "
        "latency_ms REAL)"
    )
    db.execute("CREATE INDEX IF NOT EXISTS events_ts ON events (ts)")


def rotate(db: sqlite3.Connection, now: float) -> None:
    """Keep the newest ``MAX_EVENTS`` events of the last ``MAX_AGE_DAYS`` days."""
    db.execute("DELETE FROM events WHERE ts < ?", (now - MAX_AGE_DAYS * 86_400,))
    db.execute(
        "DELETE FROM events WHERE rowid <= (SELECT MAX(rowid) FROM events) - ?", (MAX_EVENTS,)
    )
