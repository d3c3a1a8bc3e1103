"""One suggestion in flight, as ``services.acceptance`` follows it, and the pure rules over it:
which edit writes more of it (typed, or an accept's own edit), and which typed edit a partial
accept's late command claims. Nothing here reads the document except through ``Read``, and
only when an edit already fits."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lsp_server.stats.region import Pos, Units, end_of, lf_span

RECENT_EDITS = 8  # typed edits a partial accept's command, coming after its edit, may claim

Read = Callable[[Pos, Pos], "str | None"]  # the document's text between two places


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
    recent: list[tuple[int, int]] = field(default_factory=list)  # typed edits: (at, chars)
    awaiting: int = 0  # characters accepted by command whose edit has not come yet
    accepted: int = 0  # characters accepted by command
    outcome: str = ""  # "" while none, else a key of RANK
    open: bool = True  # still on screen: typing through it and superseding it count
    tracked: bool = True  # its place is known (a whole-document change loses it)
    deadline: float = 0.0
    expiry: Any = None  # the OPEN_S timer while one is armed
    served: list[int] = field(default_factory=lambda: [0])  # offsets items were served from
    checks: set[str] = field(default_factory=set)  # kept checks still to run
    timers: list[Any] = field(default_factory=list)


def written(
    rec: Record, s: Pos, e: Pos, text: str, last: bool, units: Units, read: Read
) -> int | None:
    """How much of the suggestion is in the document after an edit that writes more of it
    where it goes on; None for any other edit. A closed suggestion awaiting its accept's edit
    takes that whole edit only, never typing."""
    if not text or not (rec.open or rec.awaiting):
        return None
    done = _written(rec, s, e, text, last, units, read)
    if done is not None and not rec.open and done - rec.done < rec.awaiting:
        return None
    return done


def _written(
    rec: Record, s: Pos, e: Pos, text: str, last: bool, units: Units, read: Read
) -> int | None:
    if s == rec.cursor and rec.text.startswith(text, rec.done):
        # typed, or inserted by an accept; what it replaced after the cursor (an auto-closed
        # bracket) lay outside the suggestion
        return rec.done + len(text)
    if e == rec.cursor and rec.start <= s < rec.cursor:
        # VS Code's accept after typing: what was typed since an item was served is replaced
        # by the item's whole text
        for j in rec.served:
            if (
                j < rec.done < j + len(text)
                and rec.text.startswith(text, j)
                and end_of(rec.start, rec.text[:j], units) == s
            ):
                return j + len(text)
    if s == e and last and _landed(rec, s, text, units, read):
        return rec.done + len(text)
    return None


def _landed(rec: Record, s: Pos, text: str, units: Units, read: Read) -> bool:
    """An insertion a client's diff placed a little later than the cursor (Neovim trims common
    characters: "ab" typed before "a" is sent as "ba" one character on) that leaves the
    suggestion's next ``len(text)`` characters at the cursor. The document is read only when
    the inserted text fits there: never for a different keystroke."""
    n = len(text)
    candidate = rec.text[rec.done : rec.done + n]
    if len(candidate) < n or s < rec.cursor:
        return False
    i, (line, col) = 0, rec.cursor  # walk the candidate up to the insertion's place
    while (line, col) < s and i < n:
        if candidate[i] in "\r\n":
            i += 2 if candidate.startswith("\r\n", i) else 1
            line, col = line + 1, 0
        else:
            col += units(candidate[i])
            i += 1
    if (line, col) != s or text[: n - i] != candidate[i:]:
        return False
    return i == 0 or read(rec.cursor, s) == candidate[:i]


def advance(rec: Record, done: int, units: Units) -> None:
    """``done`` characters of it are in the document now: the new ones come from an accept
    awaiting its edit first, the rest were typed."""
    n, at = done - rec.done, rec.done
    rec.cursor = end_of(rec.cursor, rec.text[rec.done : done], units)
    rec.done = done
    from_accept = min(n, rec.awaiting)
    rec.awaiting -= from_accept
    rec.last_typed = n - from_accept
    rec.typed += rec.last_typed
    if rec.last_typed:
        rec.recent.append((at + from_accept, rec.last_typed))
        del rec.recent[:-RECENT_EDITS]


def claim(rec: Record, length: int) -> int:
    """The characters of the typed edit that was a partial accept's own (the newest that is
    ``length`` editor characters), taken back from typing; 0 when none was."""
    for k in range(len(rec.recent) - 1, -1, -1):
        at, n = rec.recent[k]
        if n == lf_span(rec.text, at, length):
            del rec.recent[k]
            if k == len(rec.recent):  # it was the last edit
                rec.last_typed = 0
            rec.typed -= n
            return n
    return 0
