"""Drop answers with nothing to show: an empty or whitespace-only ghost text only flickers."""

from __future__ import annotations

from lsp_server.context.types import Context


def apply(text: str, ctx: Context) -> str:
    return text if text.strip() else ""
