"""Drop answers that start by repeating the line below the cursor or the line above it.

A FIM model that has nothing to add often "jumps ahead" and writes the next line of the
document (the closing ``return`` under a blank line), or echoes the line just written. Such a
suggestion duplicates code whatever follows it, so it is dropped whole; lines are compared
stripped of indentation and surrounding whitespace.
"""

from __future__ import annotations

from lsp_server.context.types import Context
from lsp_server.postprocess._lines import is_blank, last_nonblank_line, next_nonblank_suffix_line


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


def apply(text: str, ctx: Context) -> str:
    return "" if repeats_neighbour(text, ctx) else text
