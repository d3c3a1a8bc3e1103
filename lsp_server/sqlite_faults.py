"""What went wrong with a SQLite file of ours, said once for every store in the user cache (the
workspace index, the acceptance statistics): each store decides what a fault costs it, but they
tell faults apart the same way and delete a corrupt file the same way."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

BUSY_TIMEOUT_S = 1.0  # how long a statement waits for another process's lock

# Primary SQLite result codes (the extended code's low byte).
_BUSY = (5, 6)  # SQLITE_BUSY, SQLITE_LOCKED
_CORRUPT = (11, 26)  # SQLITE_CORRUPT, SQLITE_NOTADB


def fault_of(exc: Exception) -> str:
    """ "corrupt", "locked" or "unwritable" (read-only, full, cannot be created: anything else
    that stops a write)."""
    code = getattr(exc, "sqlite_errorcode", None)  # Python >= 3.11
    if isinstance(code, int):
        primary = code & 0xFF
        return "locked" if primary in _BUSY else "corrupt" if primary in _CORRUPT else "unwritable"
    text = str(exc).lower()
    if isinstance(exc, sqlite3.Error) and ("locked" in text or "busy" in text):
        return "locked"
    if isinstance(exc, sqlite3.Error) and ("malformed" in text or "not a database" in text):
        return "corrupt"
    return "unwritable"


def remove_database(path: Path) -> None:
    """Delete a SQLite file and its journals (a missing one is fine); raises OSError when one
    cannot be deleted."""
    for suffix in ("", "-journal", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{path}{suffix}")
