"""The user cache unwritable or full (issue 25): the SQLite index store and the ``model: auto``
verdicts each say once which path failed and what is lost, and nothing else stops. Real
folders (made unwritable for real) and a real SQLite; a full disk is SQLite's own page limit
(SQLITE_FULL, what a full disk gives it) or, for the verdicts, the write raising ENOSPC."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lsp_server.index import store
from lsp_server.index.store import store_path
from lsp_server.index.workspace import WorkspaceIndex
from lsp_server.model import choice
from lsp_server.model.choice import VERDICTS_FILE, Verdict
from lsp_server.paths import canonical
from tests.helpers.index_store import rows_in

TRUSTED = Verdict(2100.0, 1500, 400.0, 60.0, 0.04)
LOST = "the index is kept in memory only (tried again every 30 s; until then a restart reads"


def writable(folder: Path) -> bool:
    probe = folder / ".probe"
    try:
        probe.write_text("")
    except OSError:
        return False
    probe.unlink()
    return True


@contextlib.contextmanager
def unwritable(folder: Path) -> Iterator[None]:
    """``folder`` unwritable: mode 0o500, and where that does not stop this process (root),
    the immutable attribute too; the test is skipped where neither does."""
    folder.chmod(0o500)
    immutable = False
    try:
        if writable(folder) and shutil.which("chattr"):
            done = subprocess.run(["chattr", "+i", str(folder)], capture_output=True)
            immutable = done.returncode == 0
        if writable(folder):
            pytest.skip("this process writes through a folder's mode and attributes")
        yield
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        folder.chmod(0o700)


def add_files(repo: Path, index: WorkspaceIndex, count: int, size: int = 1) -> None:
    for i in range(count):
        body = "".join(f"def f{i}_{k}():\n    return {k}\n\n" for k in range(size))
        (repo / "app" / f"added_{i}.py").write_text(body)
        assert index.update_file(repo / "app" / f"added_{i}.py")


def test_an_unwritable_index_folder_at_start_keeps_the_index_in_memory(repo: Path, tmp_path):
    folder = tmp_path / "index"
    folder.mkdir()
    with unwritable(folder):
        told = served_in_memory(repo)
    assert told == [cannot_write(repo, "unable to open database file")]


def test_an_index_folder_unwritable_while_running_is_written_once_it_is_writable(
    repo: Path, tmp_path, monkeypatch
):
    monkeypatch.setattr(store, "RETRY_S", 0.3)
    told: list[str] = []
    index = WorkspaceIndex(report=told.append)
    index.scan(index.add_folder(repo))
    with unwritable(tmp_path / "index"):
        add_files(repo, index, 5)  # SQLite cannot create its journal
        time.sleep(0.5)  # a retry meets the same fault: not told again
        add_files(repo, index, 5)
    assert len(told) == 1 and told[0].endswith(LOST + " every file again)")
    assert "(unable to open database file)" in told[0]
    path = store_path(Path(canonical(str(repo))))
    deadline = time.monotonic() + 10
    while rows_in(path) < index.stats.files + 1:  # + blob.py's row (a binary file)
        assert time.monotonic() < deadline, "the pending rows were never written"
        time.sleep(0.05)
    index.close()
    assert len(told) == 1


def test_a_full_disk_at_start_keeps_the_index_in_memory(repo: Path, monkeypatch):
    connect = sqlite3.connect

    def full_disk(*args, **kwargs) -> sqlite3.Connection:
        db = connect(*args, **kwargs)
        db.execute("PRAGMA max_page_count = 1")  # no page more than the file has
        return db

    monkeypatch.setattr(store.sqlite3, "connect", full_disk)
    assert served_in_memory(repo) == [cannot_write(repo, "database or disk is full")]


def served_in_memory(repo: Path) -> list[str]:
    """Scan ``repo``, add five files, check the index answers; what it told."""
    told: list[str] = []
    index = WorkspaceIndex(report=told.append)
    index.scan(index.add_folder(repo))
    add_files(repo, index, 5)
    assert index.definitions("slugify") and index.definitions("f4_0")
    index.close()
    return told


def cannot_write(repo: Path, why: str) -> str:
    path = store_path(Path(canonical(str(repo))))
    return f"index store {path} cannot be written ({why}): {LOST} every file again)"


def test_a_disk_filling_up_while_running_is_told_once(repo: Path):
    told: list[str] = []
    index = WorkspaceIndex(report=told.append)
    folder = index.add_folder(repo)
    index.scan(folder)
    # The store's own connection may not grow the file any more, as on a full disk.
    folder.store._db.execute("PRAGMA max_page_count = 1")
    add_files(repo, index, 30, size=40)
    assert index.definitions("f29_39")
    index.close()
    assert len(told) == 1 and "cannot be written (database or disk is full)" in told[0]


def test_an_unwritable_cache_does_not_remember_the_verdict_and_says_so(tmp_path, caplog):
    cache = tmp_path / "cache"
    cache.mkdir()
    with unwritable(cache):
        choice.remember("machine", TRUSTED, cache=cache)
    assert list(cache.iterdir()) == []
    assert choice.recall("machine", 1500, cache=cache)[0] is None
    (message,) = [r.getMessage() for r in caplog.records]
    assert message.startswith(f"auto model verdict not remembered in {cache / VERDICTS_FILE} (")
    assert message.endswith("): the 1.5B is measured again at the next start")


def test_a_full_disk_leaves_no_half_written_verdict_and_keeps_the_old_ones(
    tmp_path, monkeypatch, caplog
):
    choice.remember("earlier", TRUSTED, cache=tmp_path)
    write_text = Path.write_text

    def full_disk(self: Path, data: str, *args, **kwargs) -> int:
        write_text(self, data[: len(data) // 2], *args, **kwargs)  # what fitted
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))

    monkeypatch.setattr(Path, "write_text", full_disk)
    choice.remember("machine", TRUSTED, cache=tmp_path)
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == [VERDICTS_FILE]  # no temp file left
    assert choice.recall("earlier", 1500, cache=tmp_path)[0] == TRUSTED
    assert choice.recall("machine", 1500, cache=tmp_path)[0] is None
    assert [r.getMessage() for r in caplog.records] == [
        f"auto model verdict not remembered in {tmp_path / VERDICTS_FILE} (No space left on "
        "device): the 1.5B is measured again at the next start"
    ]
