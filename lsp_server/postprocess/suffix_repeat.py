"""Drop answers that start by repeating the line below the cursor or the line above it, or a
statement further down the same block.

A FIM model that has nothing to add often "jumps ahead" and writes the next line of the
document (the closing ``return`` under a blank line), or echoes the line just written. The
0.5B also jumps further: asked for the first of a function's statements it writes the ``for``
loop that already stands three lines below (17 of its misses on B1's full set, and none of its
exact answers, start with a line that stands later in the same block at the same depth). Such a
suggestion duplicates code whatever follows it, so it is dropped whole (and the completion
stage decodes again); lines are compared stripped of indentation and surrounding whitespace.

A later statement counts only while the block lasts (no line indented less in between) and at
the answer's own depth: the same ``return False`` in another branch is legitimate code. Lines
too generic to mean a jump (``else:``, ``break``, ``except ...:``, Go's ``if err != nil {``,
``} catch (e) {``, ``@property``, a lone ``}``) never count.
"""

from __future__ import annotations

import re

from lsp_server.context.types import Context
from lsp_server.postprocess._filter import Filter
from lsp_server.postprocess._lines import (
    indent_width,
    is_blank,
    is_closing_line,
    last_nonblank_line,
    next_nonblank_suffix_line,
    suffix_lines_after_cursor,
)

# Statements that recur in any block by idiom: repeating one further down says nothing about a
# jump (Python's `except ValueError:` of another try, Go's `if err != nil {` after each call).
_GENERIC = re.compile(
    r"(else|try|finally|default|do)\s*:?\s*\{?|(break|continue|pass|return)\s*;?"
    r"|except\b.*:|if\s+err\s*!=\s*nil\s*\{|\}?\s*(catch|finally|else)\b.*\{"
    r"|@[\w.]+(\(\))?|#.*|//.*"
)


def _first_line(lines: list[str], ctx: Context) -> tuple[int, str] | None:
    """(index, the line as the user will see it) of the answer's first non-blank line."""
    for i, line in enumerate(lines):
        if i == 0:
            right = ctx.line_suffix if len(lines) == 1 else ""
            full = ctx.line_prefix + line + right
            if not is_blank(line):
                return 0, full
        elif not is_blank(line):
            return i, line
    return None


def repeats_neighbour(text: str, ctx: Context) -> bool:
    """Whether the answer's first non-blank line repeats the line below or above the cursor.

    Also used by the completion stage to decide on a constrained re-decode.
    """
    lines = text.split("\n")
    first = _first_line(lines, ctx)
    if first is None:
        return False
    index, line = first
    if index == 0:
        above_text = ctx.prefix[: len(ctx.prefix) - len(ctx.line_prefix)]
    else:
        above_text = ctx.prefix + "\n".join(lines[:index])
    candidate = line.strip()
    return any(
        neighbour is not None and neighbour.strip() == candidate
        for neighbour in (next_nonblank_suffix_line(ctx.suffix), last_nonblank_line(above_text))
    )


def repeats_later_sibling(text: str, ctx: Context) -> bool:
    """Whether the answer's first line stands further down the cursor's block, at its depth."""
    first = _first_line(text.split("\n"), ctx)
    if first is None:
        return False
    line = first[1]
    candidate = line.strip()
    if _GENERIC.fullmatch(candidate) or is_closing_line(candidate):
        return False
    depth = indent_width(line)
    for below in suffix_lines_after_cursor(ctx.suffix):
        if is_blank(below):
            continue
        width = indent_width(below)
        if width < depth:
            return False  # the block ends: what follows is not a sibling
        if width == depth and below.strip() == candidate:
            return True
    return False


def apply(text: str, ctx: Context) -> str:
    if repeats_neighbour(text, ctx) or repeats_later_sibling(text, ctx):
        return ""
    return text


# A drop: the model jumped ahead to a line that already stands below (or echoed the one above).
FILTER = Filter(apply, wrong_start=True)
