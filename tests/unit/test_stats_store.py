"""The acceptance statistics on disk (issue 26): a real SQLite file that survives a restart, is
created again when corrupt (one log line, no exception), keeps events in memory when it cannot
be written, stays bounded, is never created with ``stats: false``, and is deleted on command;
the ``infill-lsp stats`` table (``--since``, ``--by``); and the LSP wiring: every inline item
carries the accept command, which ``infill/status`` counts."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import pytest
from lsprotocol import types

from lsp_server import cli
from lsp_server.stats import store as store_module
from lsp_server.stats.report import parse_since
from lsp_server.stats.store import STATS_ENV, StatsStore, StoreUnreadable
from lsp_server.stats.summary import Event, summarize
from tests.unit.test_handlers import CURSOR, URI, Harness

NOW = time.time() - 3600  # within the 90 days the store keeps


def events(
    sid: str,
    outcome: str | None,
    *,
    ts: float = NOW,
    language: str = "python",
    model: str = "qwen-0.5b.gguf",
    mode: str = "single_line",
    chars: int = 20,
    latency: float = 100.0,
    kept5m: int | None = None,
) -> list[Event]:
    out = [Event(ts, sid, "shown", language, model, mode, chars, latency)]
    if outcome:
        out.append(Event(ts + 1, sid, outcome, language, model, mode, chars))
    if kept5m is not None:
        out.append(Event(ts + 300, sid, "kept5m", language, model, mode, kept5m))
    return out


def fill(store: StatsStore, batches: list[list[Event]]) -> None:
    for batch in batches:
        for event in batch:
            store.add(event)
    assert store.flush()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "cache" / "stats.sqlite3"


def test_the_store_survives_a_restart(path: Path):
    first = StatsStore(path, flush_s=0)
    fill(first, [events("a-1", "accepted", kept5m=10), events("a-2", "rejected")])
    first.close()
    again = StatsStore(path, flush_s=0)
    fill(again, [events("b-1", "typed")])
    totals = summarize(again.suggestions())["all"]
    assert totals.shown == 3
    assert totals.outcomes == {"rejected": 1, "typed": 1, "partial": 0, "accepted": 1}
    assert totals.chars_accepted == 20 and totals.kept["kept5m"] == 10
    assert totals.kept_rate() == 0.5 and totals.p50_ms() == 100.0


def test_an_outcome_only_goes_up_and_chars_add_up(path: Path):
    store = StatsStore(path, flush_s=0)
    sid = "a-1"
    fill(
        store,
        [
            events(sid, "typed"),
            [Event(NOW + 2, sid, "partial", "python", "m", "single_line", 5)],
            [Event(NOW + 3, sid, "accepted", "python", "m", "single_line", 15)],
            [Event(NOW + 4, sid, "rejected", "python", "m", "single_line", 0)],
        ],
    )
    totals = summarize(store.suggestions())["all"]
    assert totals.outcomes["accepted"] == 1 and sum(totals.outcomes.values()) == 1
    assert totals.chars_accepted == 20


def test_a_corrupt_file_is_created_again_with_one_log_line(path: Path):
    path.parent.mkdir(parents=True)
    path.write_bytes(os.urandom(8192))
    told: list[str] = []
    store = StatsStore(path, report=told.append, flush_s=0)
    with pytest.raises(StoreUnreadable):  # reading it says so (the CLI tells the user)
        store.suggestions()
    fill(store, [events("a-1", "accepted")])
    assert len(told) == 1 and "corrupt" in told[0] and "created again" in told[0]
    assert summarize(store.suggestions())["all"].outcomes["accepted"] == 1
    fill(store, [events("a-2", "rejected")])
    assert len(told) == 1


def test_an_unwritable_file_keeps_events_in_memory_and_says_so_once(tmp_path: Path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    told: list[str] = []
    store = StatsStore(blocker / "stats.sqlite3", report=told.append, flush_s=0)
    for event in events("a-1", "accepted"):
        store.add(event)
    assert store.flush() is False and store.flush() is False
    assert len(told) == 1 and "cannot be written" in told[0] and store.fault == "unwritable"
    store.close()  # no exception at shutdown either


def test_a_locked_file_keeps_the_events_until_the_lock_is_gone(path: Path, monkeypatch):
    monkeypatch.setattr(store_module, "BUSY_TIMEOUT_S", 0.05)
    told: list[str] = []
    store = StatsStore(path, report=told.append, flush_s=0)
    fill(store, [events("a-1", "accepted")])
    other = sqlite3.connect(str(path))
    other.execute("BEGIN EXCLUSIVE")
    for event in events("a-2", "rejected"):
        store.add(event)
    assert store.flush() is False and "locked" in told[-1]
    other.rollback()
    other.close()
    assert store.flush() is True
    assert summarize(store.suggestions())["all"].shown == 2


def test_the_file_is_rotated(path: Path, monkeypatch):
    monkeypatch.setattr(store_module, "MAX_EVENTS", 10)
    monkeypatch.setattr(store_module, "ROTATE_EVERY", 4)
    store = StatsStore(path, flush_s=0)
    old = NOW - (store_module.MAX_AGE_DAYS + 1) * 86_400
    fill(store, [events("old-1", "accepted", ts=old)])
    fill(store, [events(f"a-{i}", "rejected") for i in range(10)])
    with sqlite3.connect(str(path)) as db:
        rows = db.execute("SELECT suggestion, kind FROM events ORDER BY rowid").fetchall()
    # the 2 old events went (too old), then the oldest of the 20 new ones beyond the newest 10
    assert rows == [(f"a-{i}", kind) for i in range(5, 10) for kind in ("shown", "rejected")]


def test_a_folder_named_with_uri_characters_is_read_as_itself(tmp_path: Path):
    path = tmp_path / "a#b?c%20d" / "stats.sqlite3"
    store = StatsStore(path, flush_s=0)
    fill(store, [events("a-1", "accepted")])
    assert summarize(store.suggestions())["all"].outcomes["accepted"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a#b?c%20d"]  # no stray database
    assert sorted(p.name for p in path.parent.iterdir()) == ["stats.sqlite3"]


def test_a_file_deleted_under_a_running_server_is_opened_again_silently(path: Path):
    """``infill-lsp stats --delete`` in another process: the server's connection then reads
    SQLITE_READONLY_DBMOVED; its next batch goes to a new file, nothing is told."""
    told: list[str] = []
    store = StatsStore(path, report=told.append, flush_s=0)
    fill(store, [events("a-1", "accepted")])
    assert StatsStore(path).delete() and not path.exists()
    fill(store, [events("a-2", "rejected")])
    assert told == [] and store.fault == ""
    assert summarize(store.suggestions())["all"].shown == 1  # only what came after


def test_a_corrupt_file_that_cannot_be_deleted_is_told_once(path: Path, monkeypatch):
    path.parent.mkdir(parents=True)
    path.write_bytes(os.urandom(8192))

    def refuse(_path: Path) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(store_module, "remove_database", refuse)
    told: list[str] = []
    store = StatsStore(path, report=told.append, flush_s=0)
    for event in events("a-1", "accepted"):
        store.add(event)
    assert store.flush() is False and store.flush() is False
    assert len(told) == 1 and "corrupt" in told[0] and "cannot be deleted" in told[0]


def test_what_is_discarded_during_a_failing_write_is_not_queued_again(path: Path, monkeypatch):
    """``stats`` switched off while the writer thread's batch fails: it is not written later."""
    store = StatsStore(path, report=lambda _m: None, flush_s=0)
    for event in events("a-1", "accepted"):
        store.add(event)

    def failing(_batch: list[Event]) -> None:
        store.discard()  # the setting switched off meanwhile, on the event loop
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(store, "_write", failing)
    assert store.flush() is False
    monkeypatch.undo()
    store.close()
    assert not path.exists()


def test_delete_removes_the_file_and_what_is_pending(path: Path):
    store = StatsStore(path, flush_s=0)
    fill(store, [events("a-1", "accepted")])
    store.add(events("a-2", "rejected")[0])
    assert store.delete() and not path.exists()
    assert store.flush() and not path.exists()  # the pending event went with it


def test_the_cli_table_by_language_and_since(path: Path, monkeypatch, capsys):
    monkeypatch.setenv(STATS_ENV, str(path))
    store = StatsStore(path, flush_s=0)
    now = NOW
    long_ago = now - 30 * 86_400
    fill(
        store,
        [
            events("p-1", "accepted", ts=now, kept5m=15, latency=80.0),
            events("p-2", "rejected", ts=now, latency=120.0),
            events("p-3", "accepted", ts=long_ago, kept5m=20),
            events("g-1", "typed", ts=now, language="go", mode="multi_line", latency=300.0),
        ],
    )
    assert cli.main(["stats", "--by", "language"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == [
        "language",
        "shown",
        "accepted",
        "rate",
        "partial",
        "typed",
        "rejected",
        "chars",
        "accepted",
        "kept",
        "5m",
        "p50",
        "ms",
    ]
    rows = {line.split()[0]: line.split() for line in out[1:]}
    assert rows["python"][1:4] == ["3", "2", "66.7%"]
    assert rows["go"][1:6] == ["1", "0", "0.0%", "0", "1"]
    assert rows["all"][1] == "4"
    assert cli.main(["stats", "--since", "7d", "--by", "mode"]) == 0
    rows = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()[1:]}
    # the accept of 30 days ago is left out; kept 5m is 15 of 20 accepted characters
    assert rows["single_line"][1:4] == ["2", "1", "50.0%"]
    assert rows["single_line"][7:10] == ["20", "15", "(75%)"] and rows["single_line"][10] == "100"
    assert cli.main(["stats", "--since", "soon"]) == 2
    assert cli.main(["stats", "--delete"]) == 0 and not path.exists()
    assert cli.main(["stats"]) == 0
    assert "no suggestions counted yet" in capsys.readouterr().err


def test_the_cli_says_when_the_file_cannot_be_read(path: Path, monkeypatch, capsys):
    monkeypatch.setenv(STATS_ENV, str(path))
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\x00garbage" * 1000)
    assert cli.main(["stats"]) == 1
    assert "cannot be read" in capsys.readouterr().err


def test_parse_since():
    assert parse_since("7d") == 7 * 86_400 and parse_since("12h") == 12 * 3600
    assert parse_since("30m") == 1800 and parse_since("2w") == 14 * 86_400
    assert parse_since("3") == 3 * 86_400
    with pytest.raises(ValueError):
        parse_since("yesterday")


async def test_inline_items_carry_the_accept_command_and_status_counts_it(tmp_path, monkeypatch):
    monkeypatch.setenv(STATS_ENV, str(tmp_path / "stats.sqlite3"))
    h = Harness(prefetch=False)
    h.open()
    params = types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri="file:///w/calc.py"),
        position=CURSOR,
        context=types.InlineCompletionContext(
            trigger_kind=types.InlineCompletionTriggerKind.Automatic
        ),
    )
    [item] = (await h.call(types.TEXT_DOCUMENT_INLINE_COMPLETION, params)).items
    command = item.command
    assert command.command == "infill.accepted"
    [argument] = command.arguments
    assert argument["kind"] == "full" and isinstance(argument["id"], str)
    handler = h.server.protocol.fm.commands["infill.accepted"]
    assert handler(argument) == {"counted": True}
    acceptance = h.services.status()["acceptance"]
    assert acceptance["session"]["accepted"] == 1 and acceptance["session"]["shown"] == 1
    assert acceptance["enabled"] is True
    h.services.shutdown()  # writes what is pending
    assert (tmp_path / "stats.sqlite3").exists()
    with pytest.raises(Exception, match='kind must be "full"'):
        handler({"id": argument["id"], "kind": "all"})
    with pytest.raises(Exception, match="needs the accepted length"):
        handler({"id": argument["id"], "kind": "word"})
    assert handler({"id": "unknown-1"}) == {"counted": False}


async def test_with_stats_off_no_file_is_created(tmp_path, monkeypatch):
    monkeypatch.setenv(STATS_ENV, str(tmp_path / "stats.sqlite3"))
    h = Harness(prefetch=False, stats=False)
    h.open()
    await h.inline()
    h.services.shutdown()
    assert not (tmp_path / "stats.sqlite3").exists()
    assert h.services.status()["acceptance"]["stored"] is None


async def test_switching_stats_off_at_runtime_writes_nothing_more(tmp_path, monkeypatch):
    path = tmp_path / "stats.sqlite3"
    monkeypatch.setenv(STATS_ENV, str(path))
    h = Harness(prefetch=False)
    h.open()
    await h.inline()
    assert h.services.stats.store.flush() and path.exists()
    with sqlite3.connect(str(path)) as db:
        before = db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    h.services.stats.store.flush_s = 0  # events wait for shutdown's flush
    h.type("x", CURSOR)
    await h.inline(types.Position(line=CURSOR.line, character=CURSOR.character + 1))
    change = types.DidChangeConfigurationParams(settings={"infill": {"stats": False}})
    h.call(types.WORKSPACE_DID_CHANGE_CONFIGURATION, change)
    assert h.services.stats.store._pending == []
    # a batch the writer thread had taken and put back (its write failed) after the switch
    h.services.stats.store._pending.append(events("late", "rejected")[0])
    await h.inline(types.Position(line=CURSOR.line, character=CURSOR.character + 1))
    h.services.shutdown()
    with sqlite3.connect(str(path)) as db:
        assert db.execute("SELECT COUNT(*) FROM events").fetchone()[0] == before


async def test_the_delete_command_deletes_the_file_and_the_sessions_totals(tmp_path, monkeypatch):
    path = tmp_path / "stats.sqlite3"
    monkeypatch.setenv(STATS_ENV, str(path))
    h = Harness(prefetch=False)
    h.open()
    await h.inline()
    h.services.stats.store.flush()
    assert path.exists()
    result = await h.server.protocol.fm.commands["infill.deleteStats"]()
    assert result == {"deleted": True, "path": str(path)} and not path.exists()
    assert h.services.status()["acceptance"]["session"]["shown"] == 0


async def test_a_failing_tracker_costs_no_answer_and_no_notification(tmp_path, monkeypatch, caplog):
    """A bug in the statistics is logged (once per hook) and never fails a request."""
    monkeypatch.setenv(STATS_ENV, str(tmp_path / "stats.sqlite3"))
    h = Harness(prefetch=False)
    h.open()
    await h.inline()  # one suggestion in flight, for didClose to settle
    tracker = h.services.acceptance

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("a tracker bug")

    for name in ("shown", "changed", "lost", "saved", "accepted", "_settle"):
        monkeypatch.setattr(tracker, name, broken)
    params = types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri=URI),
        position=CURSOR,
        context=types.InlineCompletionContext(
            trigger_kind=types.InlineCompletionTriggerKind.Automatic
        ),
    )
    for _ in range(3):
        [item] = (await h.call(types.TEXT_DOCUMENT_INLINE_COMPLETION, params)).items
        assert item.insert_text and item.command is None  # answered, uncounted
    ident = types.VersionedTextDocumentIdentifier(uri=URI, version=2)
    change = types.TextDocumentContentChangePartial(
        range=types.Range(start=CURSOR, end=CURSOR), text="a"
    )
    h.server.workspace.update_text_document(ident, change)
    h.call(
        types.TEXT_DOCUMENT_DID_CHANGE,
        types.DidChangeTextDocumentParams(text_document=ident, content_changes=[change]),
    )
    doc = types.TextDocumentIdentifier(uri=URI)
    h.call(types.TEXT_DOCUMENT_DID_SAVE, types.DidSaveTextDocumentParams(text_document=doc))
    handler = h.server.protocol.fm.commands["infill.accepted"]
    assert handler({"id": "x-1", "kind": "full"}) == {"counted": False}
    h.call(types.TEXT_DOCUMENT_DID_CLOSE, types.DidCloseTextDocumentParams(text_document=doc))
    failed = [r for r in caplog.records if "acceptance statistics" in r.getMessage()]
    hooks = sorted(r.getMessage().split(": ")[1].split()[0] for r in failed)
    assert hooks == ["accepted", "didChange", "didClose", "didSave", "shown"]
    assert all(r.exc_info for r in failed)
