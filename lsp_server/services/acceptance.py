"""What becomes of each suggestion shown, counted by the server, on the user's machine.

``AcceptanceTracker`` owns the suggestions in flight: their id, text, place and outcome, in
memory only (the text and the place never reach the disk; ``stats.store`` gets ids, counts,
lengths, the language, the model, the mode and latencies). The rules:

- **shown**: an answer with a suggestion gets an id. An answer that continues an open
  suggestion (the same document, at the place the user has typed up to, with exactly its rest:
  the typing cache answering while the user types through it) keeps that id: it is the same
  suggestion still on screen. Any other suggestion shown supersedes the open ones.
- **accepted**: the editor runs the item's command (``infill.accepted`` ``{id, kind: "full"}``);
  **partial**: the same with ``kind: "word" | "line"`` and the accepted ``length`` (as the
  editors count it: LF-normalised code points, mapped onto the suggestion's own line breaks).
  Counted from the command only, never guessed from edits. The command may come before or
  after the accept's own edit; when the suggestion was closed by then (superseded), the command
  looks for its text at its place.
- **typed through**: edits that insert exactly the suggestion's next characters where the user
  has typed up to (over any number of changes; also a client's diff that places the same text a
  few characters later). A suggestion settles as typed through when the user typed all of it,
  or at least ``TYPED_THROUGH_CHARS`` of it.
- **rejected**: it settles without an accept and without enough typed: a different edit in or
  at its place, another suggestion shown (superseded), or its document closed. ``OPEN_S``
  without progress (Continue's rule: 10 s) makes it rejected for now, but it stays open: an
  editor keeps the ghost text on screen, and typing it or accepting it still counts.
- An outcome only ever goes up (``stats.summary.RANK``): an accept command that comes after the
  suggestion settled (after its own edit, or after the next suggestion superseded it) turns it
  into accepted, while it is remembered: the open ones, and the last ``LATE_ACCEPTS`` settled.
- **kept characters**: after the first accept, at ``KEPT_AFTER_S`` (30 s, 5 min) and at the
  next didSave, the text now at the suggestion's place (followed through later edits by
  shifting positions, ``stats.region``) is compared with what the suggestion put there
  (``stats.kept``: the characters still matching, an edit-distance alignment kept small) as
  that share of the accepted characters. A whole-document change loses the place: no check
  then. After its last timed check an accepted suggestion is forgotten.

Which edit writes a suggestion, and which a late partial command claims: ``stats.record``.
Memory is bounded: at most ``MAX_LIVE`` suggestions (oldest dropped); a closed document's go.
The didChange hook costs O(the change) per suggestion of that document, never O(document). A
fault here costs the statistics only: the handlers call in through ``safely``.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar
from urllib.parse import unquote

from lsprotocol import types

from lsp_server.services.completions import Served
from lsp_server.services.documents import DocumentService
from lsp_server.stats.kept import kept_chars
from lsp_server.stats.record import Record, advance, claim, written
from lsp_server.stats.region import Pos, end_of, lf_span, moved_end, moved_start, touches
from lsp_server.stats.summary import ACCEPTS, RANK, SHOWN, Event, Totals

log = logging.getLogger("infill-lsp")

OPEN_S = 10.0  # an open suggestion without progress for this long is rejected (for now)
LATE_ACCEPTS = 32  # settled suggestions remembered for an accept command that comes late
KEPT_AFTER_S = {"kept30s": 30.0, "kept5m": 300.0}  # after the first accept
SAVE_CHECK = "keptSave"
TYPED_THROUGH_CHARS = 10
MAX_LIVE = 256
MAX_LATENCIES = 1_000  # the session's p50 is over its last this many suggestions
PARTIAL_KINDS = ("word", "line")

Later = Callable[[float, Callable[[], None]], Any]  # schedules; returns a handle with cancel()
T = TypeVar("T")


def loop_later(delay: float, callback: Callable[[], None]) -> Any:
    """``call_later`` on the running loop (None outside one: nothing is scheduled)."""
    try:
        return asyncio.get_running_loop().call_later(delay, callback)
    except RuntimeError:
        return None


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
        self._settled: OrderedDict[str, Record] = OrderedDict()  # for a late accept
        self._prefix = secrets.token_hex(8)  # ids stay unique across runs sharing the store
        self._count = 0
        self._faults: Counter[str] = Counter()

    def safely(self, hook: str, call: Callable[[], T], default: T) -> T:
        """``call()`` for a handler: a fault costs the statistics, never the request or the
        notification (logged with its traceback the first time, then counted)."""
        try:
            return call()
        except Exception:
            self._faults[hook] += 1
            n = self._faults[hook]
            if n == 1:
                log.exception("acceptance statistics: %s failed (told once)", hook)
            elif n in (10, 100, 1_000, 10_000):
                log.warning("acceptance statistics: %s failed %d times", hook, n)
            return default

    # -- what the editor shows and does --------------------------------------------------------
    def shown(self, uri: str, position: types.Position, served: Served) -> str:
        """The id of the suggestion ``served`` at ``position``: a new one, or the open one it
        continues."""
        key = unquote(uri)
        start = self.documents.place(uri, position)
        for rec in reversed(list(self._open.values())):
            if (
                rec.uri == key
                and rec.tracked
                and rec.cursor == start
                and rec.text[rec.done :] == served.text
            ):
                self._progress(rec)
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
        self._progress(rec)
        while len(self._live) > MAX_LIVE:
            oldest = next(iter(self._live.values()))
            self._settle(oldest)
            self._forget(oldest)
        return rec.id

    def accepted(self, suggestion_id: str, kind: str = "full", length: int = 0) -> bool:
        """The editor accepted the suggestion (``kind`` "full"), or ``length`` characters of
        it ("word", "line"); False when it is not remembered (closed, or settled long ago)."""
        rec = self._live.get(suggestion_id)
        if rec is None or rec.outcome == "accepted":
            return rec is not None
        self._settled.pop(rec.id, None)  # accepted: kept until its checks ran
        chars = self._full(rec) if kind == "full" else self._partial(rec, length)
        rec.accepted += chars
        if not rec.checks:  # the first accept: check later what is kept
            rec.checks = {*KEPT_AFTER_S, SAVE_CHECK}
            for check, delay in KEPT_AFTER_S.items():
                self._after(rec, delay, lambda check=check: self._check(rec, check))
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

        def close() -> None:
            for rec in list(self._by_uri.get(unquote(uri), {}).values()):
                self._settle(rec)
                self._forget(rec)

        self.safely("didClose", close, None)

    # -- accepts -------------------------------------------------------------------------------
    def _full(self, rec: Record) -> int:
        rest = len(rec.text) - rec.done
        if rest <= 0:  # its edit came first, and was taken for typing
            chars, rec.typed, rec.last_typed = rec.last_typed, rec.typed - rec.last_typed, 0
        elif not rec.open and self._in_place(rec, len(rec.text)):
            # its edit came first, after the suggestion was closed (superseded): not followed
            chars, rec.awaiting = rest - rec.awaiting, 0
            self._place(rec, len(rec.text))
        else:  # its edit comes next
            chars, rec.awaiting = rest - rec.awaiting, rest
        self._close(rec)
        self._outcome(rec, "accepted", chars)
        return chars

    def _partial(self, rec: Record, length: int) -> int:
        chars = claim(rec, length)
        if not chars:  # else its edit came first (maybe with more typing after it)
            at = rec.done + rec.awaiting
            chars = lf_span(rec.text, at, length)
            if chars and not rec.open and not rec.awaiting and self._in_place(rec, at + chars):
                self._place(rec, at + chars)  # its edit came first, not followed (closed)
            else:
                rec.awaiting += chars
        self._outcome(rec, "partial", chars)
        return chars

    def _in_place(self, rec: Record, upto: int) -> bool:
        """Whether the suggestion's first ``upto`` characters are in the document at its
        place (reads the document: an accept command's cost, never an edit's)."""
        text = rec.text[:upto]
        end = end_of(rec.start, text, self.documents.units)
        return rec.tracked and self.documents.text_between(rec.uri, rec.start, end) == text

    def _place(self, rec: Record, done: int) -> None:
        rec.done = done
        rec.cursor = end_of(rec.start, rec.text[:done], self.documents.units)

    # -- the rules -----------------------------------------------------------------------------
    def _edit(self, rec: Record, s: Pos, e: Pos, text: str, ins_end: Pos, last: bool) -> None:
        if not rec.tracked:
            return
        done = self._match(rec, s, e, text, last)
        if done is not None:
            self._advance(rec, done)
            return
        if not rec.open:
            rec.awaiting = 0  # an accept's edit that did not come (or came unrecognised)
        hit = touches(rec.start, rec.cursor, s, e)
        if not s == e == rec.start == rec.cursor:
            # (an insertion at an empty place goes after it: a late accept finds its text)
            rec.start = moved_start(rec.start, s, e, ins_end)
            rec.cursor = max(rec.start, moved_end(rec.cursor, s, e, ins_end))
        if hit:
            rec.awaiting = 0  # an accept's edit that did not land where expected
            self._settle(rec)

    def _match(self, rec: Record, s: Pos, e: Pos, text: str, last: bool) -> int | None:
        read = partial(self.documents.text_between, rec.uri)
        return written(rec, s, e, text, last, self.documents.units, read)

    def _advance(self, rec: Record, done: int) -> None:
        advance(rec, done, self.documents.units)
        if rec.done >= len(rec.text):
            self._settle(rec)
        elif rec.open:
            self._progress(rec)

    def _progress(self, rec: Record) -> None:
        """It is still on screen and went on: ``OPEN_S`` from now."""
        rec.deadline = self.clock() + OPEN_S
        if rec.expiry is None:
            rec.expiry = self._after(rec, OPEN_S, lambda: self._expire(rec), keep=False)

    def _expire(self, rec: Record) -> None:
        rec.expiry = None
        if not rec.open:
            return
        left = rec.deadline - self.clock()
        if left > 0:
            rec.expiry = self._after(rec, left, lambda: self._expire(rec), keep=False)
        else:
            self._provisional(rec)  # rejected for now; it stays open (still on screen)

    def _close(self, rec: Record) -> None:
        rec.open = False
        self._open.pop(rec.id, None)
        if rec.expiry is not None:
            rec.expiry.cancel()
            rec.expiry = None

    def _settle(self, rec: Record) -> None:
        """The suggestion is off the screen: its outcome, unless an accept gave it one."""
        if not rec.open:
            return
        self._close(rec)
        self._provisional(rec)
        if not rec.accepted:  # remembered for a late accept command, while among the last
            self._settled[rec.id] = rec
            while len(self._settled) > LATE_ACCEPTS:
                self._forget(next(iter(self._settled.values())))
        elif not rec.checks & KEPT_AFTER_S.keys():
            self._forget(rec)  # its checks ran

    def _provisional(self, rec: Record) -> None:
        enough = rec.typed >= min(TYPED_THROUGH_CHARS, len(rec.text))
        self._outcome(rec, "typed" if enough else "rejected", rec.typed)

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
        """How many of the accepted characters are still at the suggestion's place; after the
        last timed check a closed suggestion is forgotten."""
        if check not in rec.checks:
            return
        rec.checks.discard(check)
        try:
            self._measure(rec, check)
        finally:
            if check != SAVE_CHECK and not rec.open and not rec.checks & KEPT_AFTER_S.keys():
                self._forget(rec)

    def _measure(self, rec: Record, check: str) -> None:
        expected = rec.text[: rec.done]
        if not rec.tracked or rec.awaiting or rec.done < rec.accepted or not expected:
            return  # its place is not known
        now = self.documents.text_between(rec.uri, rec.start, rec.cursor)
        if now is None:
            return
        kept = round(rec.accepted * kept_chars(expected, now) / len(expected))
        self.session.kept[check] += kept
        self.session.checked[check] += rec.accepted
        self._emit(rec, check, kept)

    # -- bookkeeping ---------------------------------------------------------------------------
    def _after(
        self, rec: Record, delay: float, callback: Callable[[], object], keep: bool = True
    ) -> Any:
        def run() -> None:
            try:
                callback()
            except Exception:  # statistics never cost the server
                log.exception("acceptance statistics")

        handle = self.later(delay, run)
        if handle is not None and keep:
            rec.timers.append(handle)
        return handle

    def _forget(self, rec: Record) -> None:
        self._close(rec)
        for handle in rec.timers:
            handle.cancel()
        rec.timers.clear()
        self._live.pop(rec.id, None)
        self._settled.pop(rec.id, None)
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
