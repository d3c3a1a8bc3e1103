"""Keep only the first line when the cursor's line already has code right of the cursor.

In single-line mode the model is asked to finish one line, but a FIM model happily continues
with the lines that follow (usually ones already in the document). Anything after the first
newline is dropped, and so is trailing whitespace: it would sit between the answer and the text
right of the cursor.

Multi-line mode passes through: there the first line completes the cursor's line (or is empty
when the cursor ends a block header) and the following lines are the body; how far they may
go is ``block_scope``'s question.
"""

from __future__ import annotations

from lsp_server.context.types import Context, Mode
from lsp_server.postprocess._filter import Filter


def apply(text: str, ctx: Context) -> str:
    if ctx.mode is Mode.MULTI_LINE:
        return text
    # Mode.NONE never reaches the filters from the server; treat it as the most cautious mode.
    return text.split("\n", 1)[0].rstrip()


def stop_texts(ctx: Context) -> tuple[str, ...]:
    """The newline outside multi-line mode: ``apply`` keeps the first line only (when nothing
    came before the newline the answer is empty and will be dropped anyway)."""
    return () if ctx.mode is Mode.MULTI_LINE else ("\n",)


def stop(generated: str, ctx: Context) -> bool:
    return any(text in generated for text in stop_texts(ctx))


# Cutting to one line is the mode's rule, not a judgement of the model's first step.
FILTER = Filter(apply, wrong_start=False, stop=stop, stop_texts=stop_texts)
