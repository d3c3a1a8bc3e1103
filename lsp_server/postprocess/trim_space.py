"""Avoid a doubled space where the answer meets the text left of the cursor.

The user typed ``x = `` and the model answers `` 1``: inserted as is the line reads ``x =  1``.
Leading whitespace is kept whenever the cursor's line is blank so far, because then it is the
indentation the model supplies (the cursor may sit at column 0 of a line inside a block).
"""

from __future__ import annotations

from lsp_server.context.types import Context
from lsp_server.postprocess._filter import Filter


def apply(text: str, ctx: Context) -> str:
    left = ctx.line_prefix
    if left.strip() and left[-1] in " \t" and text[:1] in (" ", "\t"):
        return text.lstrip(" \t")
    return text


# Only trims whitespace, never drops an answer that had code.
FILTER = Filter(apply, wrong_start=False)
