"""What the engine hands over when a streaming stop rule fires."""

from __future__ import annotations

from collections.abc import Callable

from lsp_server.context.types import Context


def stop_at(stop: Callable[[str, Context], bool], raw: str, context: Context) -> str:
    """``raw`` up to where ``stop`` first fires (all of it when it never does)."""
    for end in range(len(raw) + 1):
        if stop(raw[:end], context):
            return raw[:end]
    return raw
