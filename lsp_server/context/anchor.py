"""Where the stable part of the prompt ends, per document, so keystrokes reuse the KV cache.

The prompt is laid out ``<prefix> ABOVE <suffix> BELOW <middle> HEAD``: ABOVE is the window of
lines above an *anchor* plus the indentation of the anchor's line (the anchor is the end of a
line's indentation, at or above the cursor), BELOW is the text after the cursor, and HEAD is the
text from the anchor to the cursor, placed after the middle marker as the
start of the model's own answer (llama.vim puts the cursor line there for the same reason). While
the user types, only HEAD grows: ABOVE and BELOW keep their tokens, so the engine's
longest-common-prefix reuse evaluates a handful of new tokens per keystroke instead of the whole
suffix. The anchor is kept for a document until the text above it changes, the cursor leaves
the region below it, or HEAD grows past a few lines; then it moves to the cursor's line (one
full evaluation) and stays there again.

Why after the indentation rather than at the line start: the model then sees the indentation
as context before the suffix marker (the layout it was trained on, and what B1's auto-indented
blank lines need), and its answer after the middle marker starts at code, not in the middle of
a run of spaces it would have tokenized differently (measured: with the indentation after the
middle marker the default model answered with stray spaces and lost B1 points).

Stateless callers (the CLI, one-off requests) use the cursor's line: HEAD is then the text of
the cursor's line between its indentation and the cursor.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

# HEAD beyond these makes the anchor move down: a long HEAD is text the model did not see as
# context (it reads it as its own answer), and it is paid for on top of the prefix budget.
MAX_HEAD_LINES = 8
MAX_HEAD_CHARS = 600
MAX_DOCUMENTS = 50


def line_start(text: str, offset: int) -> int:
    return text.rfind("\n", 0, offset) + 1


def indent_end(text: str, offset: int) -> int:
    """The end of the indentation of the cursor's line (at most the cursor): the default
    anchor."""
    start = line_start(text, offset)
    line = text[start:offset]
    return start + len(line) - len(line.lstrip(" \t"))


def is_anchor(text: str, anchor: int, offset: int) -> bool:
    """Whether ``anchor`` can anchor a request at ``offset``: at or before it, with only
    indentation between its line start and it."""
    return 0 <= anchor <= offset and not text[line_start(text, anchor) : anchor].strip(" \t")


@dataclass(frozen=True)
class _Anchor:
    offset: int
    above: int  # hash of text[:offset]


class AnchorMemory:
    """The anchor of each open document (bounded LRU; a forgotten one only costs one full
    prompt evaluation)."""

    def __init__(self, max_documents: int = MAX_DOCUMENTS) -> None:
        self._anchors: OrderedDict[str, _Anchor] = OrderedDict()
        self._max = max_documents

    def forget(self, key: str) -> None:
        self._anchors.pop(key, None)

    def peek(self, key: str, text: str, offset: int) -> int:
        """The anchor ``anchor`` would give, remembering nothing (a warm-up must not move the
        anchor of the place the user types at)."""
        kept = self._anchors.get(key)
        if kept is not None and _still_valid(kept, text, offset):
            return kept.offset
        return indent_end(text, offset)

    def anchor(self, key: str, text: str, offset: int) -> int:
        """The anchor for a request at ``offset``: the remembered one if still valid, else the
        end of the cursor line's indentation (remembered from now on)."""
        kept = self._anchors.get(key)
        if kept is not None and _still_valid(kept, text, offset):
            self._anchors.move_to_end(key)
            return kept.offset
        start = indent_end(text, offset)
        self._anchors[key] = _Anchor(start, hash(text[:start]))
        self._anchors.move_to_end(key)
        while len(self._anchors) > self._max:
            self._anchors.popitem(last=False)
        return start


def _still_valid(kept: _Anchor, text: str, offset: int) -> bool:
    if not kept.offset <= offset <= kept.offset + MAX_HEAD_CHARS:
        return False
    head = text[kept.offset : offset]
    return head.count("\n") <= MAX_HEAD_LINES and hash(text[: kept.offset]) == kept.above
