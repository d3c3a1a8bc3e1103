"""Drop answers that open with a placeholder comment instead of code.

Asked to fill an empty line, the instruct model sometimes writes what a tutorial would:
``# Your implementation goes here`` or ``// TODO: implement``. Accepting it gains the user
nothing, and it hides the code the model would write next; the completion stage decodes again
with that first token forbidden.
"""

from __future__ import annotations

from lsp_server.context.types import Context
from lsp_server.postprocess._filter import Filter
from lsp_server.postprocess._lines import is_blank
from lsp_server.postprocess._markers import is_placeholder


def apply(text: str, ctx: Context) -> str:
    if not is_blank(ctx.line_prefix):
        return text  # the user started this line (maybe a TODO of their own): theirs to finish
    for line in text.split("\n"):
        if not is_blank(line):
            return "" if is_placeholder(line) else text
    return text


# A drop: the model wrote a tutorial's stand-in where code goes, a first step worth forbidding.
FILTER = Filter(apply, wrong_start=True)
