"""Document and file notifications: didOpen, didChange, didClose, didChangeWatchedFiles
(didSave: ``handlers.acceptance``).

pygls' workspace applies the edits to the text before these run; here each owner of
per-document state hears of it.
"""

from __future__ import annotations

import asyncio
import logging

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from lsp_server.services import Services

log = logging.getLogger("infill-lsp")


def register(server: LanguageServer, services: Services) -> None:
    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    async def on_open(params: types.DidOpenTextDocumentParams) -> None:
        uri = params.text_document.uri
        services.documents.open(uri)
        services.index.live(uri)
        # The first full parse happens now, in a thread, rather than on the first keystroke.
        settings = services.config.settings
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(None, services.documents.warm, uri, settings)
        except Exception:  # a failed warm-up only means the first request parses in full
            log.exception("parsing %s on open failed", uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def on_change(params: types.DidChangeTextDocumentParams) -> None:
        uri, tracker = params.text_document.uri, services.acceptance
        services.index.live(uri)
        if services.documents.in_sync(uri):
            tracker.safely("didChange", lambda: tracker.changed(uri, params.content_changes), None)
        else:
            tracker.safely("didChange", lambda: tracker.lost(uri), None)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def on_close(params: types.DidCloseTextDocumentParams) -> None:
        services.close_document(params.text_document.uri)

    @server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    async def on_watched_files(params: types.DidChangeWatchedFilesParams) -> None:
        await services.index.files_changed(params.changes)
