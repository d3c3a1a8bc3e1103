"""Drop answers with nothing to show: an empty or whitespace-only ghost text only flickers."""

from __future__ import annotations

from lsp_server.context.types import Context
from lsp_server.postprocess._filter import Filter


def apply(text: str, ctx: Context) -> str:
    return text if text.strip() else ""


# Only whitespace was left: there is no first token of content to forbid in a re-decode.
FILTER = Filter(apply, wrong_start=False)
