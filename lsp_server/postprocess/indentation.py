"""Do not indent twice: the cursor already sits after the line's indentation.

An editor's auto-indent leaves the cursor after the indentation of a new line, and the model,
seeing a prompt that ends in those spaces, often writes the whole indentation again (B1: 21 of
207 answers, each 4 spaces too deep, most then failing with an IndentationError). Sometimes the
extra indentation is meant, though: the line above opened a block the auto-indent did not
follow (the line above ends with `:` or `{` at the cursor's own depth), or keeping it parses
with fewer errors. Otherwise the answer's first line is placed at the cursor's indentation.
"""

from __future__ import annotations

from lsp_server.context.types import Context
from lsp_server.postprocess._filter import Filter
from lsp_server.postprocess._lines import indent_width, last_nonblank_line, opens_block
from lsp_server.syntax.tree import syntax_errors


def _errors(ctx: Context, answer: str) -> int | None:
    return syntax_errors(ctx.language, ctx.prefix + answer + ctx.suffix) if ctx.language else None


def apply(text: str, ctx: Context) -> str:
    left = ctx.line_prefix
    if not left or left.strip() or text[:1] not in (" ", "\t"):
        return text  # column 0, or code left of the cursor: leading whitespace is meant
    first, newline, rest = text.partition("\n")
    dedented = first.lstrip(" \t") + newline + rest
    if not dedented.strip():
        return text
    above = last_nonblank_line(ctx.prefix[: len(ctx.prefix) - len(left)])
    body_expected = above is not None and opens_block(above, ctx.language)
    if body_expected and indent_width(above) >= indent_width(left):
        return text  # the block's body: one level deeper than the cursor is meant
    as_is, dedent = _errors(ctx, text), _errors(ctx, dedented)
    if as_is is not None and dedent is not None and as_is < dedent:
        return text
    return dedented


# Only re-indents, never drops an answer.
FILTER = Filter(apply, wrong_start=False)
