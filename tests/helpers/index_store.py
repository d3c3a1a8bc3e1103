"""Reading an index store the way another process would (tests of the store's faults)."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def rows_in(path: Path) -> int:
    """How many files the store at ``path`` holds (waits up to 5 s for a writer's lock)."""
    db = sqlite3.connect(str(path), timeout=5)
    try:
        return db.execute("SELECT count(*) FROM files").fetchone()[0]
    finally:
        db.close()
