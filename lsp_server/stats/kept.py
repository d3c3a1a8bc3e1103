"""How many characters of an accepted text are still there: the kept-characters check, cheap
enough for a timer on the event loop.

``kept_chars(expected, now)`` aligns the text an accept put in the document with the text now at
its place (followed through later edits: maybe longer, maybe changed) and counts the characters
of ``expected`` in matching blocks (difflib's alignment, an edit-distance measure as in
Copilot's research). ``SequenceMatcher`` without autojunk is quadratic, so the work is kept
small:

- unchanged (the usual case): no alignment at all;
- the common start and end are matched by plain string comparison (an edit in the middle, or
  text added inside, leaves both);
- only the middle is aligned, ``now``'s side cut at ``2 x`` the length of ``expected``'s middle
  ``+ SLACK`` characters; character by character while the two sides multiply to at most
  ``MAX_ALIGNED``, line by line above that (whole lines kept count, changed ones do not).
"""

from __future__ import annotations

from difflib import SequenceMatcher

from lsp_server.strings import common_prefix

SLACK = 256  # characters of the place compared beyond twice the changed part's length
MAX_ALIGNED = 40_000  # len(a) x len(b) aligned character by character (a few ms at worst)


def kept_chars(expected: str, now: str) -> int:
    """Characters of ``expected`` still found, in order, in ``now``."""
    if now == expected:
        return len(expected)
    head = common_prefix(expected, now)
    a, b = expected[head:], now[head:]
    tail = common_prefix(a[::-1], b[::-1]) if a and b else 0
    a, b = a[: len(a) - tail], b[: len(b) - tail]
    if not a or not b:
        return head + tail
    b = b[: 2 * len(a) + SLACK]
    if len(a) * len(b) <= MAX_ALIGNED:
        matcher = SequenceMatcher(None, a, b, autojunk=False)
        return head + tail + sum(block.size for block in matcher.get_matching_blocks())
    a_lines, b_lines = a.splitlines(keepends=True), b.splitlines(keepends=True)
    matcher = SequenceMatcher(None, a_lines, b_lines)
    lines = sum(
        sum(len(line) for line in a_lines[block.a : block.a + block.size])
        for block in matcher.get_matching_blocks()
    )
    return head + tail + lines
