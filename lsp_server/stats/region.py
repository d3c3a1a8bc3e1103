"""Where a suggestion's text is, followed through later edits by shifting positions: each edit
costs O(its own text), never a look at the document.

Positions are LSP positions as tuples ``(line, character)`` in the client's units (UTF-16 by
default: ``units`` counts a string in them). A region is ``[start, end)``; an edit replaces
``[s, e)`` by a text ending at ``ins_end``:

- an edit before the region moves it (lines, and characters on the edit's last line);
- text inserted exactly at the start goes before the region, at the end after it;
- an edit inside, or overlapping an edge, stays inside (what replaced part of the region is
  part of it: the kept-characters check then finds what of the suggestion is still there).
"""

from __future__ import annotations

import re
from collections.abc import Callable

Pos = tuple[int, int]
Units = Callable[[str], int]

_BREAK = re.compile(r"\r\n|\r|\n")


def end_of(start: Pos, text: str, units: Units) -> Pos:
    """Where ``text`` inserted at ``start`` ends."""
    parts = _BREAK.split(text)
    if len(parts) == 1:
        return (start[0], start[1] + units(text))
    return (start[0] + len(parts) - 1, units(parts[-1]))


def _shifted(p: Pos, e: Pos, ins_end: Pos) -> Pos:
    """``p`` at or after the replaced range's end ``e``, after the replacement."""
    if p[0] == e[0]:
        return (ins_end[0], ins_end[1] + p[1] - e[1])
    return (p[0] + ins_end[0] - e[0], p[1])


def moved_start(p: Pos, s: Pos, e: Pos, ins_end: Pos) -> Pos:
    if p < s or (p == s and s != e):
        return p
    if p == s:  # an insertion right at the start: before the region
        return ins_end
    if p < e:  # the edit overlaps the start: the replacement is inside
        return s
    return _shifted(p, e, ins_end)


def moved_end(p: Pos, s: Pos, e: Pos, ins_end: Pos) -> Pos:
    if p <= s:  # an insertion right at the end is after the region
        return p
    if p <= e:  # the edit overlaps the end: the replacement is inside
        return ins_end
    return _shifted(p, e, ins_end)


def touches(start: Pos, end: Pos, s: Pos, e: Pos) -> bool:
    """Whether an edit of ``[s, e)`` lies in or at the edges of the region."""
    return s <= end and e >= start


def lf_span(text: str, start: int, n: int) -> int:
    """How many characters of ``text`` from ``start`` make ``n`` characters as the editors
    count a partial accept: LF-normalised code points (a CRLF line break is one)."""
    if "\r\n" not in text:
        return max(0, min(n, len(text) - start))
    i = start
    while n > 0 and i < len(text):
        i += 2 if text.startswith("\r\n", i) else 1
        n -= 1
    return i - start
