"""The repository index: which files enter it, what it extracts, how it persists and stays
fresh (watchdog), on a small fixture repository written per test."""

from __future__ import annotations

import time
from pathlib import Path

from lsp_server.index.files import FileFilter
from lsp_server.index.watcher import IndexWatcher
from lsp_server.index.workspace import WorkspaceIndex
from tests.helpers.fixture_repo import DB, UTILS


def test_only_wanted_files_enter_the_index(repo: Path):
    index = WorkspaceIndex(ignore_globs=("web/",), persist=False)
    index.scan(index.add_folder(repo))
    found = {Path(p).relative_to(repo).as_posix() for p in index._entries}
    assert found == {
        "app/__init__.py",
        "app/models.py",
        "app/utils.py",
        "app/db.py",
        "app/main.py",
        "app/sub/kept.py",
    }
    # The walk itself never enters ignored folders nor lists secrets (binaries are read once).
    walked = {p.relative_to(repo).as_posix() for p in FileFilter(repo).walk()}
    assert walked == found | {"blob.py", "web/app.ts"}


def test_scan_extracts_symbols_and_resolves_modules(repo: Path):
    index = WorkspaceIndex()
    index.scan(index.add_folder(repo))
    models = str(repo / "app" / "models.py")
    kinds = {(s.name, s.kind, s.parent) for s in index.symbols_of(models).symbols}
    assert kinds == {
        ("MAX_USERS", "constant", ""),
        ("User", "class", ""),
        ("__init__", "method", "User"),
        ("display_name", "method", "User"),
        ("is_admin", "method", "User"),
    }
    main = str(repo / "app" / "main.py")
    assert index.module_files("app.models", main) == [models]
    assert index.module_files(".utils", main) == [str(repo / "app" / "utils.py")]
    assert list(index.definitions("slugify")) == [str(repo / "app" / "utils.py")]
    assert index.stats.files == 7 and index.stats.symbols >= 10  # app/*.py, web/app.ts


def test_a_restart_reuses_the_stored_index_and_rereads_only_changed_files(repo: Path):
    first = WorkspaceIndex()
    first.scan(first.add_folder(repo))
    first.close()
    (repo / "app" / "utils.py").write_text(UTILS + "\n\ndef camel(text):\n    return text\n")
    second = WorkspaceIndex()
    folder = second.add_folder(repo)
    second.scan(folder)
    assert folder.reused == folder.files - 1  # everything but the edited file
    assert str(repo / "app" / "utils.py") in second.definitions("camel")


def test_open_documents_count_with_their_live_text_but_secrets_never(repo: Path):
    index = WorkspaceIndex(persist=False)
    index.scan(index.add_folder(repo))
    db = str(repo / "app" / "db.py")
    index.set_live(db, DB.replace("def connect(", "def open_db("), "python")
    index.symbols_of(db)  # parsed, as a completion in it does
    assert db in index.definitions("open_db") and db not in index.definitions("connect")
    index.set_live(str(repo / ".env"), "def leaked():\n    pass\n", "python")
    assert index.definitions("leaked") == {}
    assert index.text_of(str(repo / ".env")) is None


def test_watchdog_picks_up_created_changed_and_deleted_files(repo: Path):
    index = WorkspaceIndex(persist=False)
    index.scan(index.add_folder(repo))
    watcher = IndexWatcher(index, debounce_s=0.1)
    watcher.start([repo])
    new = repo / "app" / "extra.py"
    try:
        new.write_text("def fresh_helper():\n    return 1\n")
        wait_for(lambda: str(new) in index.definitions("fresh_helper"))
        new.write_text("def renamed_helper():\n    return 1\n")
        wait_for(lambda: str(new) in index.definitions("renamed_helper"))
        assert index.definitions("fresh_helper") == {}
        new.unlink()
        wait_for(lambda: index.definitions("renamed_helper") == {})
        (repo / ".env.local").write_text("def secret_fn():\n    pass\n")
        (repo / "generated" / "more.py").write_text("def ignored_fn():\n    pass\n")
        time.sleep(0.5)
        watcher.flush()
        assert index.definitions("secret_fn") == {} and index.definitions("ignored_fn") == {}
    finally:
        watcher.stop()


def wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("the index did not catch up with the disk")
