"""Inline completion, and ``textDocument/completion`` as its fallback for clients without it."""

from __future__ import annotations

from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from lsp_server.handlers.acceptance import shown_command
from lsp_server.handlers.params import check_positions
from lsp_server.services import Services

# Our extensions' signal: the cursor came to rest at ``position`` (debounced by the editor).
CURSOR_NOTIFICATION = "infill/cursor"


def register(server: LanguageServer, services: Services) -> None:
    completions = services.completions

    @server.feature(
        types.TEXT_DOCUMENT_INLINE_COMPLETION,
        types.InlineCompletionOptions(work_done_progress=False),
    )
    async def inline_completion(
        params: types.InlineCompletionParams,
    ) -> types.InlineCompletionList:
        pos, uri = params.position, params.text_document.uri
        check_positions(services, types.TEXT_DOCUMENT_INLINE_COMPLETION, uri, pos)
        served = await completions.complete(uri, pos)
        if not served.text:
            return types.InlineCompletionList(items=[])
        item = types.InlineCompletionItem(
            insert_text=served.text,
            range=types.Range(start=pos, end=pos),
            command=shown_command(services, uri, pos, served),
        )
        return types.InlineCompletionList(items=[item])

    @server.feature(
        types.TEXT_DOCUMENT_COMPLETION,
        types.CompletionOptions(trigger_characters=[".", "(", " "], resolve_provider=False),
    )
    async def completion(params: types.CompletionParams) -> types.CompletionList:
        """Fallback for clients without inline completion: the infill as one item."""
        pos, uri = params.position, params.text_document.uri
        check_positions(services, types.TEXT_DOCUMENT_COMPLETION, uri, pos)
        if not fallback_wanted(services.config.settings.completion_fallback, server):
            return types.CompletionList(is_incomplete=False, items=[])
        served = await completions.complete(uri, pos)
        text = served.text
        if not text:
            return types.CompletionList(is_incomplete=True, items=[])
        label = text.strip().split("\n", 1)[0][:80] or text
        item = types.CompletionItem(
            label=label,
            kind=types.CompletionItemKind.Text,
            detail="infill-lsp",
            documentation=text,  # a plain string: every client renders it
            text_edit=types.TextEdit(range=types.Range(start=pos, end=pos), new_text=text),
            insert_text_format=types.InsertTextFormat.PlainText,
            sort_text="0",
            filter_text=label,
            command=shown_command(services, uri, pos, served),
        )
        return types.CompletionList(is_incomplete=True, items=[item])

    @server.feature(CURSOR_NOTIFICATION)
    def cursor(params: Any) -> None:
        """Warm the prompt where the cursor rests; malformed or unknown places are ignored."""
        place = cursor_position(params)
        if place is not None:
            completions.cursor_rests(*place)


def cursor_position(params: Any) -> tuple[str, types.Position] | None:
    """``{textDocument: {uri}, position: {line, character}}`` as pygls hands a custom
    notification's params over (attribute objects); None when malformed."""
    try:
        uri = params.textDocument.uri
        line, character = int(params.position.line), int(params.position.character)
    except (AttributeError, TypeError, ValueError):
        return None
    if not isinstance(uri, str) or line < 0 or character < 0:
        return None
    return uri, types.Position(line=line, character=character)


def fallback_wanted(mode: str, server: LanguageServer) -> bool:
    """``completionFallback``: auto answers only clients without inline completion (VS Code
    asks for both on most keystrokes: answering both would run the model twice)."""
    if mode != "auto":
        return mode == "always"
    text_caps = server.client_capabilities.text_document
    return text_caps is None or text_caps.inline_completion is None
