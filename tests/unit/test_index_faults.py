"""The SQLite index store corrupt or locked (issue 25), at start and while the server runs, on a
real SQLite file and a second real connection: each fault is told once, the index in memory
keeps answering, and the store is rebuilt (corrupt) or written once the lock is gone."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from lsprotocol import types
from pygls import uris
from pygls.lsp.server import LanguageServer
from pygls.workspace import Workspace

from lsp_server.handlers import register
from lsp_server.index import store
from lsp_server.index.store import store_path
from lsp_server.index.workspace import WorkspaceIndex
from lsp_server.loader import LoadedModel
from lsp_server.paths import canonical
from lsp_server.services import Services
from tests.helpers.fake_engine import FakeEngine, RecordingClient
from tests.helpers.index_store import rows_in


def path_of(repo: Path) -> Path:
    return store_path(Path(canonical(str(repo))))


def scanned(repo: Path, told: list[str]) -> WorkspaceIndex:
    index = WorkspaceIndex(report=told.append)
    index.scan(index.add_folder(repo))
    return index


def restart_reuses_everything(repo: Path, told: list[str], unknown: int = 0) -> None:
    """The store holds a row for every indexed file: a new start reads none of them (but
    ``unknown`` files the store had no row for)."""
    index = WorkspaceIndex(report=told.append)
    folder = index.add_folder(repo)
    index.scan(folder)
    index.close()
    assert folder.reused == folder.files - unknown


def corrupt(path: Path, how: str) -> None:
    size = path.stat().st_size
    if how == "garbage":
        path.write_bytes(os.urandom(size))
    else:
        os.truncate(path, size // 2)


@pytest.mark.parametrize("how", ["garbage", "truncated"])
def test_a_store_corrupt_at_start_is_rebuilt_by_the_scan_and_told_once(repo: Path, how: str):
    told: list[str] = []
    scanned(repo, told).close()
    path = path_of(repo)
    corrupt(path, how)
    index = scanned(repo, told)
    assert index.definitions("slugify")  # the files were read again
    index.close()
    reason = "file is not a database" if how == "garbage" else "database disk image is malformed"
    assert told == [f"index store {path} was corrupt ({reason}): deleted and rebuilt"]
    restart_reuses_everything(repo, told)
    assert len(told) == 1


@pytest.mark.parametrize("how", ["garbage", "truncated"])
def test_a_store_corrupt_while_running_is_rebuilt_from_memory_and_told_once(repo: Path, how: str):
    told: list[str] = []
    index = scanned(repo, told)
    path = path_of(repo)
    # Enough rows that half the file holds pages the next write needs.
    for i in range(60):
        (repo / "app" / f"gen_{i}.py").write_text(f"def generated_{i}():\n    return {i}\n")
    index.update_files(sorted((repo / "app").glob("gen_*.py")))
    corrupt(path, how)
    (repo / "app" / "fresh.py").write_text("def fresh():\n    return 1\n")
    assert index.update_file(repo / "app" / "fresh.py")
    (repo / "app" / "later.py").write_text("def later():\n    return 2\n")
    assert index.update_file(repo / "app" / "later.py")
    assert index.definitions("fresh") and index.definitions("generated_7")
    index.close()
    assert len(told) == 1 and told[0].startswith(f"index store {path} was corrupt (")
    assert told[0].endswith("): deleted and rebuilt")
    # Refilled from memory, which holds no binary file (blob.py is read once more).
    restart_reuses_everything(repo, told, unknown=1)
    assert len(told) == 1


class Holder:
    """A second process's connection holding the store's exclusive lock."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(str(path), isolation_level=None)
        self.db.execute("BEGIN EXCLUSIVE")

    def release(self) -> None:
        self.db.execute("ROLLBACK")
        self.db.close()


def wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.parametrize("when", ["start", "running"])
def test_a_locked_store_waits_briefly_once_then_writes_when_the_lock_is_gone(
    repo: Path, monkeypatch, when: str
):
    monkeypatch.setattr(store, "RETRY_S", 0.5)
    monkeypatch.setattr(store, "BUSY_TIMEOUT_S", 2.0)  # one wait stands out from the work
    told: list[str] = []
    path = path_of(repo)
    if when == "start":
        scanned(repo, []).close()
        holder = Holder(path)
        started = time.perf_counter()
        index = scanned(repo, told)  # the store unreadable: every file is read
        assert time.perf_counter() - started < store.BUSY_TIMEOUT_S + 6  # not one per file
    else:
        index = scanned(repo, told)
        holder = Holder(path)
    new = [repo / "app" / f"new_{i}.py" for i in range(20)]
    for i, file in enumerate(new):
        file.write_text(f"def new_{i}():\n    return {i}\n")
    index.update_file(new[0])  # at most one bounded wait...
    started = time.perf_counter()
    for file in new[1:]:
        index.update_file(file)
    assert time.perf_counter() - started < store.BUSY_TIMEOUT_S  # ...then none: 19 updates
    assert index.definitions("new_19") and index.definitions("slugify")
    assert len(told) == 1
    assert told[0].startswith(f"index store {path} is locked by another process (database is")
    holder.release()
    indexed = index.stats.files
    wait_for(lambda: rows_in(path) >= indexed)  # the retry wrote what was pending
    index.close()
    restart_reuses_everything(repo, told)
    assert len(told) == 1


def test_a_store_write_waiting_on_a_lock_never_holds_up_the_index_readers(repo: Path, monkeypatch):
    monkeypatch.setattr(store, "BUSY_TIMEOUT_S", 2.0)
    told: list[str] = []
    index = scanned(repo, told)
    holder = Holder(path_of(repo))
    (repo / "app" / "extra.py").write_text("def extra():\n    return 1\n")
    writer = threading.Thread(target=index.update_file, args=(repo / "app" / "extra.py",))
    writer.start()
    try:
        slowest = 0.0
        while writer.is_alive():  # the writer sits in SQLite's busy wait meanwhile
            started = time.perf_counter()
            assert index.definitions("slugify")
            index.symbols_of(str(repo / "app" / "models.py"))
            slowest = max(slowest, time.perf_counter() - started)
            time.sleep(0.01)
        assert slowest < store.BUSY_TIMEOUT_S / 2  # never the store's wait (a read: < 1 ms)
    finally:
        writer.join()
        holder.release()
        index.close()
    assert len(told) == 1 and "is locked by another process" in told[0]


async def test_the_server_tells_a_corrupt_store_once_and_keeps_completing(repo: Path):
    scanned(repo, []).close()
    path_of(repo).write_bytes(b"not a database at all" * 100)
    server = LanguageServer("infill-lsp-test", "0")
    client = RecordingClient()
    services = Services.create(client, lambda: server.workspace)
    register(server, services)
    caps = types.TextDocumentClientCapabilities(
        inline_completion=types.InlineCompletionClientCapabilities()
    )
    server.protocol.client_capabilities = types.ClientCapabilities(text_document=caps)
    server.protocol._workspace = Workspace(uris.from_fs_path(str(repo)))
    features = server.protocol.fm.features
    features[types.INITIALIZE](
        types.InitializeParams(capabilities=types.ClientCapabilities(), initialization_options={})
    )
    services.model.loaded = LoadedModel(None, FakeEngine(answer=lambda _prompt: "a + b"))
    services.model.state = "ready"
    services.index.start()
    await services.index._scan_task
    uri = uris.from_fs_path(str(repo / "app" / "calc.py"))
    item = types.TextDocumentItem(uri=uri, language_id="python", version=1, text="x = \n")
    server.workspace.put_text_document(item)
    params = types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        position=types.Position(line=0, character=4),
        context=types.InlineCompletionContext(
            trigger_kind=types.InlineCompletionTriggerKind.Automatic
        ),
    )
    result = await features[types.TEXT_DOCUMENT_INLINE_COMPLETION](params)
    services.index.stop()
    assert result.items[0].insert_text == "a + b"
    assert [m for m in client.logs if "index store" in m] == [
        f"index store {path_of(repo)} was corrupt (file is not a database): deleted and rebuilt"
    ]


def test_a_stop_while_the_watcher_starts_stops_the_observer_it_was_starting(
    repo: Path, monkeypatch
):
    """``start`` runs off the event loop and a big tree's recursive watch takes seconds: a
    ``stop`` meanwhile finds no observer to stop. The one being started stops once started,
    instead of running for good."""
    from lsp_server.index import watcher as watcher_module
    from lsp_server.index.watcher import IndexWatcher

    entered, release = threading.Event(), threading.Event()
    observers: list[threading.Thread] = []

    class SlowObserver(watcher_module.Observer):
        def start(self) -> None:
            observers.append(self)
            entered.set()
            release.wait(10)  # the recursive inotify setup of a big tree
            super().start()

    monkeypatch.setattr(watcher_module, "Observer", SlowObserver)
    index = WorkspaceIndex(persist=False)
    index.add_folder(repo)
    watcher = IndexWatcher(index)
    starting = threading.Thread(target=watcher.start, args=([repo],))
    starting.start()
    assert entered.wait(10)
    watcher.stop()  # the server shuts down, or the index is turned off, meanwhile
    release.set()
    starting.join(10)
    (observer,) = observers
    assert not starting.is_alive() and not observer.is_alive()
    watcher.start([repo])  # stopped is stopped: no observer is made any more
    assert len(observers) == 1


def test_a_stop_for_sigterm_waits_for_no_thread_and_closes_no_store(repo: Path):
    """SIGTERM: the index is only told to stop (the process exits next); the watcher's worker,
    busy applying changes, is not waited for (a join waits up to 5 s), and ends by itself."""
    from lsp_server.index.watcher import IndexWatcher
    from lsp_server.services.config import Config
    from lsp_server.services.documents import DocumentService
    from lsp_server.services.indexing import IndexService

    index = WorkspaceIndex(persist=False)
    index.scan(index.add_folder(repo))
    inside, release = threading.Event(), threading.Event()
    update_files = index.update_files

    def slow_update(paths, cancelled=None):
        inside.set()
        release.wait(20)  # a long flush (a storm, a store waiting on a lock)
        return update_files(paths, cancelled=cancelled)

    index.update_files = slow_update
    closed: list[bool] = []
    index.close = lambda: closed.append(True)
    watcher = IndexWatcher(index, debounce_s=0.01)
    service = IndexService(RecordingClient(), Config(), DocumentService(lambda: None))
    service.index, service.watcher = index, watcher
    watcher.queue(str(repo / "app" / "models.py"))
    assert inside.wait(10)
    started = time.monotonic()
    service.stop(wait=False)
    assert time.monotonic() - started < 2.5  # not the join's 5 s (the flush takes 20 s)
    assert service.index is None and service.watcher is None and closed == []
    release.set()
    watcher._worker.join(10)
    assert not watcher._worker.is_alive()
