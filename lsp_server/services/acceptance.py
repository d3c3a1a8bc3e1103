"""What becomes of each suggestion shown, counted by the server, on the user's machine.

``AcceptanceTracker`` owns the suggestions in flight: their id, text, place and outcome, in
memory only (the text and the place never reach the disk; ``stats.store`` gets ids, counts,
lengths, the language, the model, the mode and latencies). The rules:

- **shown**: an answer with a suggestion gets an id. An answer that continues an open
  suggestion (the same document, at the place the user has typed up to, with exactly its rest:
  the typing cache answering while the user types through it) keeps that id: it is the same
  suggestion still on screen. Any other suggestion shown supersedes the open ones.
- **accepted**: the editor runs the item's command (``infill.accepted`` ``{id, kind: "full"}``);
  **partial**: the same with ``kind: "word" | "line"`` and the accepted ``length``. Counted from
  the command only, never guessed from edits.
- **typed through**: edits that insert exactly the suggestion's next characters where the user
  has typed up to (over any number of changes; also a client's diff that places the same text a
  few characters later). A suggestion settles as typed through when the user typed all of it,
  or at least ``TYPED_THROUGH_CHARS`` of it.
- **rejected**: it settles without an accept and without enough typed: a different edit in or
  at its place, another suggestion shown (superseded), ``OPEN_S`` without progress (Continue's
  rule: rejected after 10 s), or its document closed.
- An outcome only ever goes up (``stats.summary.RANK``): an accept command that comes after the
  suggestion settled (after its own edit, or after the next suggestion superseded it) turns it
  into accepted, while the suggestion is remembered (``GRACE_S`` after it settled).
- **kept characters**: after the first accept, at ``KEPT_AFTER_S`` (30 s, 5 min) and at the
  next didSave, the text now at the suggestion's place (followed through later edits by
  shifting positions, ``stats.region``) is compared with what the suggestion put there; the
  characters still matching (difflib's matching blocks: an edit-distance alignment) are that
  share of the accepted characters. A whole-document change loses the place: no check then.

Memory is bounded: at most ``MAX_LIVE`` suggestions (oldest dropped); a closed document's go.
The didChange hook costs O(the change) per suggestion of that document, never O(document).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Any
from urllib.parse import unquote

from lsprotocol import types

from lsp_server.services.completions import Served
from lsp_server.services.documents import DocumentService
from lsp_server.stats.region import Pos, end_of, moved_end, moved_start, touches
from lsp_server.stats.summary import ACCEPTS, RANK, SHOWN, Event, Totals

log = logging.getLogger("infill-lsp")

OPEN_S = 10.0  # an open suggestion without progress for this long settles
GRACE_S = 10.0  # a settled suggestion is remembered this long, for a late accept command
KEPT_AFTER_S = {"kept30s": 30.0, "kept5m": 300.0}  # after the first accept
SAVE_CHECK = "keptSave"
TYPED_THROUGH_CHARS = 10
MAX_LIVE = 256
MAX_LATENCIES = 1_000  # the session's p50 is over its last this many suggestions
PARTIAL_KINDS = ("word", "line")
MAX_COMPARED = 4_096  # characters of the place compared beyond the suggestion's length x 4

Later = Callable[[float, Callable[[], None]], Any]  # schedules; returns a handle with cancel()


def loop_later(delay: float, callback: Callable[[], None]) -> Any:
    """``call_later`` on the running loop (None outside one: nothing is scheduled)."""
    try:
        return asyncio.get_running_loop().call_later(delay, callback)
    except RuntimeError:
        return None


@dataclass(eq=False)
class Record:
    id: str
    uri: str
    text: str  # in memory only
    language: str
    model: str
    mode: str
    start: Pos  # where it was shown
    cursor: Pos  # where the part of it in the document ends
    done: int = 0  # characters of it in the document (typed, or inserted by accepts)
    typed: int = 0  # of those, typed by the user
    last_typed: int = 0  # typed by the last matching edit (an accept's own edit, maybe)
    awaiting: int = 0  # characters accepted by command whose edit has not come yet
    accepted: int = 0  # characters accepted by command
    outcome: str = ""  # "" while none, else a key of RANK
    open: bool = True  # still on screen: typing through it and superseding it count
    tracked: bool = True  # its place is known (a whole-document change loses it)
    deadline: float = 0.0
    served: list[int] = field(default_factory=lambda: [0])  # offsets items were served from
    checks: set[str] = field(default_factory=set)  # kept checks still to run
    timers: list[Any] = field(default_factory=list)


class AcceptanceTracker:
    """``sink`` takes each event (``StatsFile.add``: to the file, when ``stats`` is on);
    ``clock`` (monotonic), ``wall`` (unix time) and ``later`` (timers) are the loop's, or a
    test's fake time."""

    def __init__(
        self,
        documents: DocumentService,
        sink: Callable[[Event], None],
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        later: Later = loop_later,
    ) -> None:
        self.documents, self.sink = documents, sink
        self.clock, self.wall, self.later = clock, wall, later
        self.session = Totals()  # since the server started
        self._live: OrderedDict[str, Record] = OrderedDict()
        self._by_uri: dict[str, dict[str, Record]] = {}
        self._open: dict[str, Record] = {}
        self._prefix = secrets.token_hex(3)  # ids stay unique across runs sharing the store
        self._count = 0

    # -- what the editor shows and does --------------------------------------------------------
    def shown(self, uri: str, position: types.Position, served: Served) -> str:
        """The id of the suggestion ``served`` at ``position``: a new one, or the open one it
        continues."""
        key = unquote(uri)
        start = self.documents.place(uri, position)
        for rec in reversed(list(self._by_uri.get(key, {}).values())):
            if (
                rec.open
                and rec.tracked
                and rec.cursor == start
                and rec.text[rec.done :] == served.text
            ):
                rec.deadline = self.clock() + OPEN_S
                if rec.done not in rec.served:
                    rec.served.append(rec.done)  # an item now starts here
                return rec.id
        for rec in list(self._open.values()):
            self._settle(rec)  # superseded
        self._count += 1
        rec = Record(
            f"{self._prefix}-{self._count}",
            key,
            served.text,
            served.language,
            served.model,
            served.mode,
            start,
            start,
        )
        self._live[rec.id] = rec
        self._by_uri.setdefault(key, {})[rec.id] = rec
        self._open[rec.id] = rec
        self.session.shown += 1
        self.session.latencies.append(served.latency_ms)
        del self.session.latencies[:-MAX_LATENCIES]
        self._emit(rec, SHOWN, len(served.text), served.latency_ms)
        rec.deadline = self.clock() + OPEN_S
        self._after(rec, OPEN_S, lambda: self._expire(rec))
        while len(self._live) > MAX_LIVE:
            oldest = next(iter(self._live.values()))
            self._settle(oldest)
            self._forget(oldest)
        return rec.id

    def accepted(self, suggestion_id: str, kind: str = "full", length: int = 0) -> bool:
        """The editor accepted the suggestion (``kind`` "full"), or ``length`` characters of
        it ("word", "line"); False when it is not remembered (too old, or closed)."""
        rec = self._live.get(suggestion_id)
        if rec is None or rec.outcome == "accepted":
            return rec is not None
        if kind == "full":
            rest = len(rec.text) - rec.done
            if rest > 0:  # its edit comes next
                chars, rec.awaiting = rest - rec.awaiting, rest
            else:  # its edit came first, and was taken for typing
                chars, rec.typed, rec.last_typed = rec.last_typed, rec.typed - rec.last_typed, 0
            self._close(rec)
            self._outcome(rec, "accepted", chars)
        else:
            if length and rec.last_typed == length:  # its edit came first
                chars, rec.typed, rec.last_typed = length, rec.typed - length, 0
            else:
                chars = max(0, min(length, len(rec.text) - rec.done - rec.awaiting))
                rec.awaiting += chars
            self._outcome(rec, "partial", chars)
        rec.accepted += chars
        if not rec.checks:  # the first accept: check later what is kept
            rec.checks = {*KEPT_AFTER_S, SAVE_CHECK}
            for check, delay in KEPT_AFTER_S.items():
                self._after(rec, delay, lambda check=check: self._check(rec, check))
            last = max(KEPT_AFTER_S.values())
            self._after(rec, last, lambda: self._forget(rec))
        return True

    def changed(self, uri: str, changes: list[types.TextDocumentContentChangeEvent]) -> None:
        """A didChange already applied: typing through, edits at a suggestion's place, and
        every place moved. O(the change) per suggestion of the document."""
        records = self._by_uri.get(unquote(uri))
        if not records:
            return
        for i, change in enumerate(changes):
            if isinstance(change, types.TextDocumentContentChangeWholeDocument):
                for rec in list(records.values()):
                    rec.tracked = False
                    self._settle(rec)
                continue
            r = change.range
            s, e = (r.start.line, r.start.character), (r.end.line, r.end.character)
            ins_end = end_of(s, change.text, self.documents.units)
            last = i == len(changes) - 1  # the document as read now is the one after it
            for rec in list(records.values()):
                self._edit(rec, s, e, change.text, ins_end, last)

    def saved(self, uri: str) -> None:
        for rec in list(self._by_uri.get(unquote(uri), {}).values()):
            if SAVE_CHECK in rec.checks:
                self._check(rec, SAVE_CHECK)

    def lost(self, uri: str) -> None:
        """Our copy fell out of sync: the places in it are no longer known."""
        for rec in list(self._by_uri.get(unquote(uri), {}).values()):
            rec.tracked = False
            self._settle(rec)

    def close(self, uri: str) -> None:
        """didClose: the document's suggestions settle (rejected unless accepted or typed
        through) and are forgotten, with their kept checks."""
        for rec in list(self._by_uri.get(unquote(uri), {}).values()):
            self._settle(rec)
            self._forget(rec)

    # -- the rules -----------------------------------------------------------------------------
    def _edit(self, rec: Record, s: Pos, e: Pos, text: str, ins_end: Pos, last: bool) -> None:
        if not rec.tracked:
            return
        done = self._match(rec, s, e, text, last)
        if done is not None:
            self._advance(rec, done)
            return
        hit = touches(rec.start, rec.cursor, s, e)
        rec.start = moved_start(rec.start, s, e, ins_end)
        rec.cursor = max(rec.start, moved_end(rec.cursor, s, e, ins_end))
        if hit:
            rec.awaiting = 0  # an accept's edit that did not land where expected
            self._settle(rec)

    def _match(self, rec: Record, s: Pos, e: Pos, text: str, last: bool) -> int | None:
        """How much of the suggestion is in the document after an edit that writes more of
        it where it goes on; None for any other edit."""
        if not text or not (rec.open or rec.awaiting):
            return None
        if s == rec.cursor and rec.text.startswith(text, rec.done):
            # typed, or inserted by an accept; what it replaced after the cursor (an
            # auto-closed bracket) lay outside the suggestion
            return rec.done + len(text)
        if e == rec.cursor and rec.start <= s < rec.cursor:
            # VS Code's accept after typing: what was typed since an item was served is
            # replaced by the item's whole text
            for j in rec.served:
                if (
                    j < rec.done < j + len(text)
                    and rec.text.startswith(text, j)
                    and end_of(rec.start, rec.text[:j], self.documents.units) == s
                ):
                    return j + len(text)
        if s == e and last and self._landed(rec, s, len(text)):
            return rec.done + len(text)
        return None

    def _landed(self, rec: Record, s: Pos, n: int) -> bool:
        """An insertion a client's diff placed a little later than the cursor (Neovim trims
        common characters: "ab" typed before "a" is sent as "ba" one character on) that leaves
        the suggestion's next ``n`` characters at the cursor."""
        candidate = rec.text[rec.done : rec.done + n]
        if len(candidate) < n:
            return False
        end = end_of(rec.cursor, candidate, self.documents.units)
        if not rec.cursor <= s <= end:
            return False
        return self.documents.text_between(rec.uri, rec.cursor, end) == candidate

    def _advance(self, rec: Record, done: int) -> None:
        n = done - rec.done
        rec.cursor = end_of(rec.cursor, rec.text[rec.done : done], self.documents.units)
        rec.done = done
        from_accept = min(n, rec.awaiting)
        rec.awaiting -= from_accept
        rec.last_typed = n - from_accept
        rec.typed += rec.last_typed
        rec.deadline = self.clock() + OPEN_S
        if rec.done >= len(rec.text):
            self._settle(rec)

    def _close(self, rec: Record) -> None:
        rec.open = False
        self._open.pop(rec.id, None)

    def _settle(self, rec: Record) -> None:
        """The suggestion is off the screen: its outcome, unless an accept gave it one."""
        if not rec.open:
            return
        self._close(rec)
        if not rec.outcome:
            enough = rec.typed >= min(TYPED_THROUGH_CHARS, len(rec.text))
            self._outcome(rec, "typed" if enough else "rejected", rec.typed)
        if not rec.accepted:
            self._after(rec, GRACE_S, lambda: rec.accepted or self._forget(rec))

    def _expire(self, rec: Record) -> None:
        if not rec.open:
            return
        left = rec.deadline - self.clock()
        if left > 0:
            self._after(rec, left, lambda: self._expire(rec))
        else:
            self._settle(rec)

    def _outcome(self, rec: Record, kind: str, chars: int) -> None:
        """Record an outcome: it replaces a lower one; accepted characters always add up."""
        old = rec.outcome
        upgrade = not old or RANK[kind] > RANK[old]
        if upgrade:
            if old:
                self.session.outcomes[old] -= 1
            self.session.outcomes[kind] += 1
            rec.outcome = kind
        if kind in ACCEPTS:
            self.session.chars_accepted += chars
        if upgrade or kind in ACCEPTS:
            self._emit(rec, kind, chars)

    def _check(self, rec: Record, check: str) -> None:
        """How many of the accepted characters are still at the suggestion's place."""
        if check not in rec.checks:
            return
        rec.checks.discard(check)
        expected = rec.text[: rec.done]
        if not rec.tracked or rec.awaiting or rec.done < rec.accepted or not expected:
            return  # its place is not known
        now = self.documents.text_between(rec.uri, rec.start, rec.cursor)
        if now is None:
            return
        now = now[: 4 * len(expected) + MAX_COMPARED]
        matcher = SequenceMatcher(None, expected, now, autojunk=False)
        matched = sum(block.size for block in matcher.get_matching_blocks())
        kept = round(rec.accepted * matched / len(expected))
        self.session.kept[check] += kept
        self.session.checked[check] += rec.accepted
        self._emit(rec, check, kept)

    # -- bookkeeping ---------------------------------------------------------------------------
    def _after(self, rec: Record, delay: float, callback: Callable[[], object]) -> None:
        def run() -> None:
            try:
                callback()
            except Exception:  # statistics never cost the server
                log.exception("acceptance statistics")

        handle = self.later(delay, run)
        if handle is not None:
            rec.timers.append(handle)

    def _forget(self, rec: Record) -> None:
        for handle in rec.timers:
            handle.cancel()
        rec.timers.clear()
        self._live.pop(rec.id, None)
        self._open.pop(rec.id, None)
        records = self._by_uri.get(rec.uri)
        if records is not None:
            records.pop(rec.id, None)
            if not records:
                del self._by_uri[rec.uri]

    def _emit(self, rec: Record, kind: str, chars: int, latency_ms: float | None = None) -> None:
        latency = None if latency_ms is None else round(latency_ms, 1)
        self.sink(
            Event(self.wall(), rec.id, kind, rec.language, rec.model, rec.mode, chars, latency)
        )

    # -- status -------------------------------------------------------------------------------
    def describe(self) -> dict[str, object]:
        """This session's totals for ``infill/status`` (held in memory, whatever ``stats``)."""
        return {"open": len(self._open), "session": self.session.to_wire()}

    def reset(self) -> None:
        """The statistics were deleted: this session's go too."""
        for rec in list(self._live.values()):
            self._forget(rec)
        self.session = Totals()
