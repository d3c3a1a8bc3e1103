"""Single-line vs multi-line vs nothing, decided from the text and syntax at the cursor.

Deciding before generation lets the engine stop at the first newline in single-line mode, which
is most of the latency budget on a CPU.
"""

from __future__ import annotations

from lsp_server.context.types import Mode

# Characters that may stand right of the cursor without making the line "already written":
# editors auto-insert closing brackets and quotes, and a suggestion should still fill before them.
_AUTO_CLOSED = set(")]}>\"'`;,: \t")
_BLOCK_OPENERS = (":", "{", "(", "[", "=>", "->")


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def decide_mode(line_prefix: str, line_suffix: str) -> Mode:
    """Mode for a cursor between ``line_prefix`` and ``line_suffix`` (its line's two halves)."""
    if line_prefix and line_suffix and _is_word(line_prefix[-1]) and _is_word(line_suffix[0]):
        return Mode.NONE  # mid-identifier: any suggestion would split a word
    if line_suffix.strip() and not set(line_suffix) <= _AUTO_CLOSED:
        return Mode.SINGLE_LINE  # text right of the cursor: finish this line only
    if not line_prefix.strip():
        return Mode.MULTI_LINE  # blank line (inside a block or at top level): a body is welcome
    if line_prefix.rstrip().endswith(_BLOCK_OPENERS) and not line_suffix.strip():
        return Mode.MULTI_LINE  # end of `def f():` / `if (x) {`: the block's body follows
    return Mode.SINGLE_LINE
