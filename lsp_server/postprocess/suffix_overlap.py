"""Remove the end of the answer that the document already has right after the cursor.

FIM models end their answer with text that is already there: the ``)`` an editor auto-closed,
the ``return`` line below a blank line, the block's closing ``}`` (Tabby's "duplicated closing
line" and "duplicated suffix lines"). Inserted as is, the user would get it twice.

Two steps, whole lines first: trailing answer lines equal to the first lines below the cursor
are dropped; then the longest start of the text right of the cursor that the answer ends with
is stripped. Both only act when that does not unbalance brackets or quotes, because an answer
like ``foo(a)`` before an auto-closed ``)`` (in ``print(|)``) ends with a ``)`` of its own.
"""

from __future__ import annotations

from lsp_server.context.types import Context
from lsp_server.postprocess._filter import Filter
from lsp_server.postprocess._lines import (
    BRACE_LANGUAGES,
    bracket_net,
    drop_trailing_blank_lines,
    imbalance,
    indent_width,
    is_blank,
    suffix_lines_after_cursor,
)

# Separators whose repetition (`;;`, `::`) is never intended, so duplicates are safe to strip.
_SEPARATORS = frozenset(";:,")


def _same_line(answer_line: str, suffix_line: str, language: str) -> bool:
    """Equal code; the indentation must match too where indentation is syntax."""
    if answer_line.strip() != suffix_line.strip():
        return False
    return language in BRACE_LANGUAGES or indent_width(answer_line) == indent_width(suffix_line)


def _drop_duplicated_lines(text: str, ctx: Context) -> str:
    """Drop the answer's trailing lines that equal the next non-blank lines of the suffix."""
    lines = text.split("\n")
    if len(lines) < 2 or ctx.line_suffix.strip():
        return text
    # (index, line) of the non-blank answer lines; line 0 is never dropped here.
    answer = [(i, line) for i, line in enumerate(lines) if i > 0 and not is_blank(line)]
    below: list[str] = []
    for line in suffix_lines_after_cursor(ctx.suffix):
        if len(below) >= len(answer):
            break
        if not is_blank(line):
            below.append(line)
    net = abs(bracket_net(text, ctx.language))
    for m in range(min(len(answer), len(below)), 0, -1):
        tail = answer[-m:]
        pairs = zip(tail, below[:m], strict=True)
        if not all(_same_line(a, s, ctx.language) for (_, a), s in pairs):
            continue
        kept = "\n".join(lines[: tail[0][0]])
        if abs(bracket_net(kept, ctx.language)) <= net:
            return drop_trailing_blank_lines(kept)
    return text


def _strip_line_suffix(text: str, ctx: Context) -> str:
    """Strip the longest start of the text right of the cursor that ends the answer."""
    right = ctx.line_suffix.rstrip()
    body = text.rstrip(" \t")
    left = ctx.line_prefix
    for size in range(min(len(right), len(body)), 0, -1):
        overlap = right[:size]
        if not overlap.strip() or not body.endswith(overlap):
            continue
        before = imbalance(left + text + right, ctx.language)
        after = imbalance(left + body[:-size] + right, ctx.language)
        if after < before or (after == before and set(overlap.strip()) <= _SEPARATORS):
            return body[:-size]
    return text


def apply(text: str, ctx: Context) -> str:
    return _strip_line_suffix(_drop_duplicated_lines(text, ctx), ctx)


# An answer it empties only restated what follows the cursor; the one such case worth a re-decode
# (the line below, repeated) ``completion`` recognises itself (``suffix_repeat.repeats_neighbour``).
FILTER = Filter(apply, wrong_start=False)
