"""What becomes of a suggestion shown (issue 26), on the tracker with fake time: accepted by the
command (before or after its own edit), partly accepted, typed through over several keystrokes,
rejected (a different edit, superseded, timed out, closed), and the characters kept 30 s / 5 min
/ at the next save after an accept, followed through later edits."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lsprotocol import types
from pygls.workspace import TextDocument, Workspace

from lsp_server.services import acceptance
from lsp_server.services.acceptance import AcceptanceTracker
from lsp_server.services.completions import Served
from lsp_server.services.documents import DocumentService, LspWorkspace
from lsp_server.stats.summary import Event

URI = "file:///w/calc.py"
DOC = "def add(a, b):\n    \n"
AT = types.Position(line=1, character=4)
LINE = "total = a + b  # the sum!"  # 25 characters


@dataclass
class Handle:
    due: float
    run: Any
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True


@dataclass
class FakeTime:
    now: float = 1_000.0
    timers: list[Handle] = field(default_factory=list)
    newest_first: bool = False  # timers due at the same time run newest first (asyncio's heap
    # keeps no order among equal times)

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return 1_700_000_000.0 + self.now

    def later(self, delay: float, run: Any) -> Handle:
        handle = Handle(self.now + delay, run)
        self.timers.append(handle)
        return handle

    def advance(self, seconds: float) -> None:
        end = self.now + seconds
        while True:
            due = [h for h in self.timers if not h.cancelled and h.due <= end]
            if not due:
                break
            order = reversed(due) if self.newest_first else due
            handle = min(order, key=lambda h: h.due)
            self.timers.remove(handle)
            self.now = handle.due
            handle.run()
        self.now = end


class Editor:
    """A document, the tracker, and the edits an editor would send."""

    def __init__(self, text: str = DOC) -> None:
        self.workspace = Workspace("file:///w")
        self.workspace.__class__ = LspWorkspace
        self.workspace.put_text_document(
            types.TextDocumentItem(uri=URI, language_id="python", version=1, text=text)
        )
        self.time = FakeTime()
        self.events: list[Event] = []
        self.tracker = AcceptanceTracker(
            DocumentService(lambda: self.workspace),
            self.events.append,
            clock=self.time.monotonic,
            wall=self.time.wall,
            later=self.time.later,
        )
        self.version = 1

    @property
    def doc(self) -> TextDocument:
        return self.workspace.get_text_document(URI)

    def show(self, text: str, at: types.Position = AT, mode: str = "single_line") -> str:
        served = Served(text, mode, 120.0, "python", "fake-base.gguf")
        return self.tracker.shown(URI, at, served)

    def edit(self, text: str, start: tuple[int, int], end: tuple[int, int] | None = None) -> None:
        self.version += 1
        at = types.Position(*start)
        change = types.TextDocumentContentChangePartial(
            range=types.Range(start=at, end=types.Position(*(end or start))), text=text
        )
        ident = types.VersionedTextDocumentIdentifier(uri=URI, version=self.version)
        self.workspace.update_text_document(ident, change)
        self.tracker.changed(URI, [change])

    def type(self, text: str, start: tuple[int, int]) -> None:
        """One keystroke per character."""
        line, character = start
        for char in text:
            self.edit(char, (line, character))
            character += 1

    @property
    def session(self) -> dict[str, Any]:
        return self.tracker.describe()["session"]

    def kinds(self, suggestion: str) -> list[tuple[str, int]]:
        return [(e.kind, e.chars) for e in self.events if e.suggestion == suggestion]


def test_every_suggestion_gets_an_id_and_an_accept_counts_it():
    ed = Editor()
    first = ed.show(LINE)
    ed.tracker.accepted(first, "full")  # VS Code: the command, then the edit
    ed.edit(LINE, (1, 4))
    assert ed.session["shown"] == 1 and ed.session["accepted"] == 1
    assert ed.session["charsAccepted"] == len(LINE) and ed.session["typedThrough"] == 0
    assert ed.kinds(first) == [("shown", len(LINE)), ("accepted", len(LINE))]
    shown = ed.events[0]
    assert (shown.language, shown.model, shown.mode, shown.latency_ms) == (
        "python",
        "fake-base.gguf",
        "single_line",
        120.0,
    )
    second = ed.show("pass", types.Position(line=2, character=0))
    assert second != first and second.split("-")[0] == first.split("-")[0]


def test_an_accept_command_after_its_own_edit_is_not_typing_through():
    ed = Editor()
    sid = ed.show(LINE)
    ed.edit(LINE, (1, 4))  # the edit first: taken for typing until the command comes
    assert ed.session["typedThrough"] == 1
    assert ed.tracker.accepted(sid, "full")
    assert ed.session["accepted"] == 1 and ed.session["typedThrough"] == 0
    assert ed.session["charsAccepted"] == len(LINE)
    assert ed.tracker.accepted(sid, "full")  # a repeated command counts once
    assert ed.session["accepted"] == 1 and ed.session["charsAccepted"] == len(LINE)


def test_vscode_accepting_after_typing_replaces_what_was_typed_with_the_whole_item():
    ed = Editor()
    sid = ed.show(LINE)
    ed.type("tot", (1, 4))
    assert ed.tracker.accepted(sid, "full")
    ed.edit(LINE, (1, 4), (1, 7))  # the item's range grew over "tot": replaced by its text
    assert ed.session["accepted"] == 1 and ed.session["charsAccepted"] == len(LINE) - 3
    ed.time.advance(31)
    assert ed.kinds(sid)[-1] == ("kept30s", len(LINE) - 3)  # all of it still there


def test_a_partial_accept_counts_its_characters_and_the_rest_can_be_typed():
    ed = Editor()
    sid = ed.show(LINE)
    assert ed.tracker.accepted(sid, "word", 6)  # "total "
    ed.edit("total ", (1, 4))
    # the editor shows the rest; the typing cache answers it: the same suggestion
    assert ed.show(LINE[6:], types.Position(line=1, character=10)) == sid
    ed.type(LINE[6:], (1, 10))
    s = ed.session
    assert (s["shown"], s["partial"], s["accepted"], s["typedThrough"]) == (1, 1, 0, 0)
    assert s["charsAccepted"] == 6


def test_typing_through_over_several_keystrokes_is_one_suggestion_typed_through():
    ed = Editor()
    sid = ed.show(LINE)
    for i, char in enumerate(LINE):
        assert ed.show(LINE[i:], types.Position(line=1, character=4 + i)) == sid
        ed.edit(char, (1, 4 + i))
    s = ed.session
    assert (s["shown"], s["typedThrough"], s["accepted"], s["rejected"]) == (1, 1, 0, 0)
    assert ed.kinds(sid)[-1] == ("typed", len(LINE))


def test_typing_part_of_it_then_something_else():
    ed = Editor()
    ed.show(LINE)
    ed.type(LINE[:12], (1, 4))  # "total = a + " (12 >= TYPED_THROUGH_CHARS), then a "c"
    ed.edit("c", (1, 16))
    assert ed.session["typedThrough"] == 1
    ed.show("d)", types.Position(line=1, character=17))
    ed.type("x", (1, 17))  # a different edit at once
    assert ed.session["rejected"] == 1


def test_rejected_by_another_edit_by_a_new_suggestion_or_by_time():
    ed = Editor()
    ed.show(LINE)
    ed.edit("x", (1, 4))
    assert ed.session["rejected"] == 1
    ed.show(LINE, types.Position(line=1, character=5))
    ed.show("pass", types.Position(line=2, character=0))  # superseded
    assert ed.session["rejected"] == 2
    ed.time.advance(acceptance.OPEN_S + 1)  # nothing happened for 10 s
    assert ed.session["rejected"] == 3
    assert ed.tracker.describe()["open"] == 1  # still on screen: VS Code keeps it there


def test_an_edit_elsewhere_leaves_it_open_and_moves_its_place():
    ed = Editor()
    sid = ed.show(LINE)
    ed.edit("import os\n\n", (0, 0))  # e.g. an auto-import above
    ed.tracker.accepted(sid, "full")
    ed.edit(LINE, (3, 4))
    assert ed.session["accepted"] == 1 and ed.session["rejected"] == 0
    ed.time.advance(31)
    assert ed.kinds(sid)[-1] == ("kept30s", len(LINE))


def test_an_accept_after_the_next_suggestion_superseded_it_still_counts():
    ed = Editor()
    sid = ed.show(LINE)
    ed.edit(LINE, (1, 4))
    ed.show("\n    return total", types.Position(line=1, character=4 + len(LINE)))
    assert ed.tracker.accepted(sid, "full")
    assert ed.session["accepted"] == 1 and ed.session["typedThrough"] == 0
    ed.time.advance(acceptance.OPEN_S + 1)
    assert not ed.tracker.accepted("nope-1", "full")  # unknown ids are not counted


def test_half_of_an_accepted_line_deleted_keeps_about_half():
    ed = Editor()
    sid = ed.show(LINE)
    ed.tracker.accepted(sid, "full")
    ed.edit(LINE, (1, 4))
    ed.time.advance(31)
    assert ed.kinds(sid)[-1] == ("kept30s", len(LINE))
    half = len(LINE) // 2
    ed.edit("", (1, 4 + half), (1, 4 + len(LINE)))  # the second half deleted...
    ed.edit("# a comment\n", (0, 0))  # ...and a line added above: the place moves down
    ed.time.advance(300)
    kept = dict(ed.kinds(sid))["kept5m"]
    assert kept == half  # 12 of 25: about 50%
    assert ed.session["charsKept5m"] == half and ed.session["keptRate5m"] == round(half / 25, 4)
    assert ed.tracker.describe()["open"] == 0 and not ed.tracker._live  # forgotten after 5 min


def test_a_line_retyped_differently_keeps_what_matches():
    ed = Editor()
    sid = ed.show(LINE)
    ed.tracker.accepted(sid, "full")
    ed.edit(LINE, (1, 4))
    ed.edit("sum", (1, 4), (1, 9))  # "total" -> "sum": 20 of 25 characters left as they were
    ed.tracker.saved(URI)
    ed.tracker.saved(URI)  # only the first save after the accept is a check
    assert [k for k in ed.kinds(sid) if k[0] == "keptSave"] == [("keptSave", 20)]


def test_a_multi_line_accept_is_followed_through_edits_inside_it():
    ed = Editor()
    text = "total = a + b\n    return total"
    sid = ed.show(text, mode="multi_line")
    ed.edit(text, (1, 4))
    ed.tracker.accepted(sid, "full")
    ed.edit("    print(total)\n", (2, 0))  # a line inserted inside the accepted text
    ed.time.advance(301)
    kinds = dict(ed.kinds(sid))
    assert kinds["kept30s"] == kinds["kept5m"] == len(text)


def test_a_client_that_places_the_insertion_later_still_types_through():
    """Neovim's diff trims common characters: "ab" inserted before "a" arrives as "ba" one
    character later; the document is the same."""
    ed = Editor("x = \n")
    sid = ed.tracker.shown(URI, types.Position(line=0, character=4), Served("ab", "single_line"))
    ed.edit("a", (0, 4))  # "x = a"
    ed.tracker.accepted(sid, "full")
    ed.edit("b", (0, 5))
    assert ed.session["accepted"] == 1
    ed.time.advance(31)
    assert ed.kinds(sid)[-1] == ("kept30s", 1)
    ed2 = Editor("x = a\n")
    sid = ed2.tracker.shown(URI, types.Position(line=0, character=4), Served("ab", "single_line"))
    ed2.edit("ba", (0, 5))  # the document now reads "x = aba": "ab" at the cursor
    assert ed2.session["typedThrough"] == 1


def test_did_close_settles_and_forgets_the_documents_suggestions():
    ed = Editor()
    accepted = ed.show(LINE)
    ed.tracker.accepted(accepted, "full")
    ed.edit(LINE, (1, 4))
    ed.show("pass", types.Position(line=2, character=0))
    ed.tracker.close(URI)
    assert ed.session["rejected"] == 1 and ed.tracker.describe()["open"] == 0
    assert not ed.tracker._live and not ed.tracker._by_uri
    ed.time.advance(301)
    assert all(not k.startswith("kept") for k, _ in ed.kinds(accepted))  # checks dropped


def test_a_whole_document_change_loses_the_place():
    ed = Editor()
    sid = ed.show(LINE)
    ed.tracker.accepted(sid, "full")
    ed.edit(LINE, (1, 4))
    ed.tracker.changed(URI, [types.TextDocumentContentChangeWholeDocument(text="x = 1\n")])
    ed.time.advance(301)
    assert [k for k, _ in ed.kinds(sid)] == ["shown", "accepted"]


def test_memory_is_bounded(monkeypatch):
    monkeypatch.setattr(acceptance, "MAX_LIVE", 8)
    ed = Editor()
    for i in range(20):
        ed.show(f"x{i}", types.Position(line=0, character=i))
    assert len(ed.tracker._live) == 8 and ed.session["shown"] == 20
    assert ed.session["rejected"] == 19  # each superseded by the next


def test_no_text_and_no_place_reach_the_events():
    ed = Editor()
    sid = ed.show(LINE)
    ed.tracker.accepted(sid, "full")
    ed.edit(LINE, (1, 4))
    ed.time.advance(301)
    for event in ed.events:
        values = [str(v) for v in vars(event).values()]
        assert not any(LINE in v or "calc.py" in v or "total" in v for v in values)


# -- the reviewer's findings (issue 26) ------------------------------------------------------------
def test_a_tab_after_15_s_of_reading_is_counted_and_its_kept_characters_checked():
    """VS Code keeps the ghost text on screen: the 10 s rule settles it as rejected for now,
    its own insertion (the edit, then the command) still makes it accepted."""
    ed = Editor()
    sid = ed.show(LINE)
    ed.time.advance(15)
    assert ed.session["rejected"] == 1  # provisionally
    ed.edit(LINE, (1, 4))
    assert ed.tracker.accepted(sid, "full")
    s = ed.session
    assert (s["accepted"], s["rejected"], s["typedThrough"]) == (1, 0, 0)
    assert s["charsAccepted"] == len(LINE)
    ed.time.advance(31)
    assert ed.kinds(sid)[-1] == ("kept30s", len(LINE))


def test_a_tab_after_25_s_is_counted_in_either_order():
    ed = Editor()
    sid = ed.show(LINE)
    ed.time.advance(25)
    assert ed.tracker.accepted(sid, "full")  # the command first (a client that sends it so)
    ed.edit(LINE, (1, 4))
    assert ed.session["accepted"] == 1 and ed.session["charsAccepted"] == len(LINE)
    ed.time.advance(31)
    assert ed.kinds(sid)[-1] == ("kept30s", len(LINE))


def test_typing_through_after_the_10_s_rule_still_counts_as_typed():
    ed = Editor()
    sid = ed.show(LINE)
    ed.time.advance(12)
    ed.type(LINE[:12], (1, 4))
    ed.edit("c", (1, 16))  # then something else: it settles, typed through
    assert ed.session["typedThrough"] == 1 and ed.session["rejected"] == 0
    assert [k for k, _ in ed.kinds(sid)] == ["shown", "rejected", "typed"]


def test_a_superseded_suggestion_accepted_edit_first_is_found_in_place():
    """The editor still showed it when a later answer superseded it: the accept's edit is not
    taken for typing (the suggestion is closed); the command finds its text at its place."""
    ed = Editor()
    sid = ed.show(LINE)
    ed.show("pass", types.Position(line=2, character=0))  # superseded
    ed.edit(LINE, (1, 4))  # Tab: the edit first...
    assert ed.tracker.accepted(sid, "full")  # ...then the command
    assert ed.session["accepted"] == 1 and ed.session["charsAccepted"] == len(LINE)
    assert ed.tracker._live[sid].awaiting == 0
    ed.time.advance(31)
    assert ed.kinds(sid)[-1] == ("kept30s", len(LINE))


def test_a_completion_item_replacing_the_typed_prefix_after_it_was_superseded():
    """Completion clients replace what was typed since the request with the item's text."""
    ed = Editor()
    sid = ed.show(LINE)
    ed.type("tot", (1, 4))
    ed.show("al = b", types.Position(line=1, character=7))  # another answer superseded it
    ed.edit(LINE, (1, 4), (1, 7))  # the fallback item accepted: "tot" replaced by its text
    assert ed.tracker.accepted(sid, "full")
    assert ed.session["accepted"] == 1 and ed.session["charsAccepted"] == len(LINE) - 3
    ed.time.advance(31)
    assert ed.kinds(sid)[-1] == ("kept30s", len(LINE) - 3)


def test_an_accept_whose_edit_never_comes_does_not_arm_the_suggestion():
    """A command for a closed suggestion whose text is not in place waits for its edit until
    the next edit that is not it; later insertions are then never counted as its edit."""
    ed = Editor()
    sid = ed.show(LINE)
    ed.edit("x", (1, 4))  # rejected
    assert ed.tracker.accepted(sid, "full")
    assert ed.tracker._live[sid].awaiting == len(LINE)
    ed.edit("y", (0, 0))  # some other edit: the accept's edit went elsewhere
    assert ed.tracker._live[sid].awaiting == 0
    ed.edit("t", (1, 4))  # the suggestion's first character where it was: not its edit
    assert ed.tracker._live[sid].done == 0


def test_a_partial_accept_whose_edit_came_before_another_keystroke():
    """The word's edit, then a typed character, then the word's command: the edit was the
    accept's, the character typed."""
    ed = Editor()
    sid = ed.show(LINE)
    ed.edit("total ", (1, 4))  # the word accept's edit
    ed.edit("=", (1, 10))  # the user typed on before the command arrived
    assert ed.tracker.accepted(sid, "word", 6)
    rec = ed.tracker._live[sid]
    assert rec.awaiting == 0 and rec.typed == 1
    assert ed.session["partial"] == 1 and ed.session["charsAccepted"] == 6
    ed.type(LINE[7:], (1, 11))  # the rest typed: all of it counts as typed
    assert rec.typed == len(LINE) - 6
    ed.time.advance(31)
    assert ed.kinds(sid)[-1] == ("kept30s", 6)


CRLF_DOC = "def add(a, b):\r\n    \r\n"
CRLF_TEXT = "total = a + b\r\n    return total"


def test_a_line_accept_over_a_crlf_line_break_is_counted_once():
    """Editors send LF-normalised lengths (VS Code counts CRLF as one, Neovim reads \\n)."""
    for edit_first in (True, False):
        ed = Editor(CRLF_DOC)
        sid = ed.show(CRLF_TEXT, mode="multi_line")
        line = "total = a + b\r\n"
        if edit_first:
            ed.edit(line, (1, 4))
        assert ed.tracker.accepted(sid, "line", len("total = a + b\n"))
        if not edit_first:
            ed.edit(line, (1, 4))
        rec = ed.tracker._live[sid]
        assert (rec.awaiting, rec.typed, rec.done) == (0, 0, len(line)), edit_first
        assert ed.session["partial"] == 1 and ed.session["charsAccepted"] == len(line)
        ed.time.advance(31)
        assert ed.kinds(sid)[-1] == ("kept30s", len(line))


def test_the_kept_check_aligns_little_text(monkeypatch):
    """SequenceMatcher without autojunk is quadratic: the check compares the suggestion with a
    region of bounded size, and not at all when it is unchanged."""
    from lsp_server.stats import kept

    sizes: list[tuple[int, int]] = []
    real = kept.SequenceMatcher

    def recording(junk: Any, a: Any, b: Any, autojunk: bool = True) -> Any:
        sizes.append((len(a), len(b)))
        return real(junk, a, b, autojunk=autojunk)

    monkeypatch.setattr(kept, "SequenceMatcher", recording)
    text = "".join(f"    value_{i} = compute({i}, {i * 7})\n" for i in range(60))  # ~2,000 chars
    ed = Editor()
    sid = ed.show(text, mode="multi_line")
    ed.tracker.accepted(sid, "full")
    ed.edit(text, (1, 4))
    ed.time.advance(31)
    assert ed.kinds(sid)[-1] == ("kept30s", len(text)) and sizes == []  # unchanged: no alignment
    junk = "".join(f"# {i} padding padding padding\n" for i in range(400))  # ~12,000 chars
    ed.edit(junk, (20, 0))  # pasted inside it...
    ed.edit("z", (40 + 400, 10))  # ...and a line further down changed
    ed.time.advance(300)
    assert len(text) // 2 < dict(ed.kinds(sid))["kept5m"] < len(text)
    assert sizes and all(a * b <= kept.MAX_ALIGNED for a, b in sizes)


def test_the_last_check_runs_before_the_suggestion_is_forgotten():
    ed = Editor()
    ed.time.newest_first = True
    sid = ed.show(LINE)
    ed.tracker.accepted(sid, "full")
    ed.edit(LINE, (1, 4))
    ed.time.advance(301)
    assert [k for k, _ in ed.kinds(sid)][-2:] == ["kept30s", "kept5m"]
    assert not ed.tracker._live


def test_ids_carry_a_64_bit_run_prefix():
    ed = Editor()
    prefix, count = ed.show(LINE).split("-")
    assert len(prefix) == 16 and count == "1"


def test_rejection_by_typing_does_not_read_the_document(monkeypatch):
    ed = Editor()
    reads: list[Any] = []
    real = ed.tracker.documents.text_between
    monkeypatch.setattr(
        ed.tracker.documents, "text_between", lambda *a: reads.append(a) or real(*a)
    )
    ed.show(LINE)
    ed.edit("x", (1, 4))
    assert ed.session["rejected"] == 1 and reads == []


def test_settled_suggestions_are_remembered_for_a_bounded_number(monkeypatch):
    monkeypatch.setattr(acceptance, "LATE_ACCEPTS", 4)
    ed = Editor()
    ids = [ed.show(f"x{i}", types.Position(line=0, character=i)) for i in range(10)]
    assert len(ed.tracker._live) == 5  # the open one and the last 4 superseded
    assert not ed.tracker.accepted(ids[0], "full") and ed.tracker.accepted(ids[-2], "full")
