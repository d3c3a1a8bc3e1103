"""Limit a multi-line answer to the block the cursor is in (Tabby's "limit scope by indentation").

A fill-in-the-middle model rarely stops where the user's block ends: having written the body it
goes on with the next function, a class, or the closing lines that already stand below the
cursor. The block's end is visible without a parser: the first line indented less than the
block, or (brace languages) a closing brace nothing in the answer opened.
"""

from __future__ import annotations

from lsp_server.context.types import Context, Mode
from lsp_server.postprocess._filter import Filter
from lsp_server.postprocess._lines import (
    BRACE_LANGUAGES,
    drop_trailing_blank_lines,
    first_unmatched_closer,
    indent_width,
    is_blank,
    is_closing_line,
    next_nonblank_suffix_line,
    opens_block,
)


def indent_limit(lines: list[str], ctx: Context) -> int | None:
    """Least indentation (columns) a later answer line may have and still be in the block.

    With code left of the cursor, that line is the block's header: a body must be indented
    deeper when the (completed) line opens a block, siblings are fine otherwise. On a blank line
    the cursor's column is the block level; at column 0 the model's first line decides, since
    the editor may not have indented yet. None when the answer has no non-blank line.
    """
    left = ctx.line_prefix
    if not is_blank(left):
        return indent_width(left) + (1 if opens_block(left + lines[0], ctx.language) else 0)
    for i, line in enumerate(lines):
        full = left + line if i == 0 else line
        if not is_blank(full):
            return max(indent_width(left), indent_width(full))
    return None


def closing_allowed(full_line: str, ctx: Context) -> bool:
    """Whether the answer may close the block itself, i.e. the document does not already.

    Text right of the cursor that equals the closing line is kept here and removed by
    ``suffix_overlap`` (which then leaves the document's own closer on its own line).
    """
    right = ctx.line_suffix.strip()
    if right:
        return full_line.strip() == right
    below = next_nonblank_suffix_line(ctx.suffix)
    if below is None:
        return True
    width, below_width = indent_width(full_line), indent_width(below)
    if below_width > width:
        return False  # the block goes on below the cursor: closing it here would cut it in two
    return below_width < width or not is_closing_line(below)


def _cut_at_closer(lines: list[str], i: int, col: int, ctx: Context) -> str:
    """Answer cut at line ``i`` whose column ``col`` closes the enclosing block."""
    line = lines[i]
    full = ctx.line_prefix + line if i == 0 else line
    if is_blank(line[:col]):
        keep = i + 1 if is_closing_line(line) and closing_allowed(full, ctx) else i
        return drop_trailing_blank_lines("\n".join(lines[:keep]))
    # At the end of the document nothing else closes the block: keep the closer.
    kept = line if not ctx.suffix.strip() else line[:col].rstrip()
    return drop_trailing_blank_lines("\n".join([*lines[:i], kept]))


def apply(text: str, ctx: Context) -> str:
    if ctx.mode is not Mode.MULTI_LINE:
        return text
    lines = text.split("\n")
    limit = indent_limit(lines, ctx)
    if limit is None:
        return text
    braces = ctx.language in BRACE_LANGUAGES
    depth = 0
    for i, line in enumerate(lines):
        if i > 0 and not is_blank(line) and indent_width(line) < limit:
            keep = i + 1 if is_closing_line(line) and closing_allowed(line, ctx) else i
            return drop_trailing_blank_lines("\n".join(lines[:keep]))
        if braces:
            col, depth = first_unmatched_closer(line, ctx.language, depth)
            if col >= 0:
                return _cut_at_closer(lines, i, col, ctx)
    return drop_trailing_blank_lines(text)


def stop(generated: str, ctx: Context) -> bool:
    """Once a line is indented less than the cursor's block: ``apply`` cuts there.

    A new line stops as soon as its first character shows, unless that is a closing bracket: a
    closer like ``});`` may belong to the answer (``closing_allowed``), so that line is awaited
    in full. Multi-line mode only, like ``apply``.
    """
    if ctx.mode is not Mode.MULTI_LINE:
        return False
    *done, growing = generated.split("\n")
    if not done:
        return False
    limit = indent_limit(done, ctx)
    if limit is None:
        return False
    if any(not is_blank(line) and indent_width(line) < limit for line in done[1:]):
        return True
    head = growing.lstrip()
    return bool(head) and head[0] not in ")]}" and indent_width(growing) < limit


# A drop: the answer leaves the cursor's block before writing anything in it (the next function,
# top-level code), often on the re-decode another filter asked for: worth one more.
FILTER = Filter(apply, wrong_start=True, stop=stop)
