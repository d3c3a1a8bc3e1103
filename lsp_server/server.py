"""The LSP server: one pygls server, its services, and the handler modules registered on it.

``build_server`` is the one place these meet; nothing imports this module but the CLI (no
module-level server, no handler module reaching back here).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from lsp_server import __version__
from lsp_server.handlers import register
from lsp_server.protocol import InfillProtocol
from lsp_server.services import Services
from lsp_server.services.client import NoProgress, Progress
from lsp_server.settings import Settings

log = logging.getLogger("infill-lsp")


class InfillServer(LanguageServer):
    """pygls' server; the state lives in ``services``."""

    protocol: InfillProtocol

    def __init__(self, settings: Settings | None = None) -> None:
        super().__init__("infill-lsp", __version__, protocol_cls=InfillProtocol)
        self.services = Services.create(LspClient(self), lambda: self.workspace, settings)
        self.protocol.change_documents = self._change_documents
        self.protocol.lose_change = self._lose_change

    def _change_documents(self, params: types.DidChangeTextDocumentParams) -> str:
        return self._fell_out_of_sync(self.services.documents.change(params))

    def _lose_change(self, uri: str, why: str) -> None:
        self._fell_out_of_sync(self.services.documents.lost(uri, why))

    def _fell_out_of_sync(self, message: str) -> str:
        """A copy that fell out of sync: the user is told, once per fall."""
        if message:
            self.services.client.tell(message, types.MessageType.Warning)
        return message

    def report_server_error(self, error: Exception, source: Any) -> None:
        """Out-of-band errors: a body that is not JSON (or not UTF-8) is answered (id null)
        and logged; the rest go to pygls, which shows them."""
        if isinstance(error, (json.JSONDecodeError, UnicodeDecodeError)):
            self.protocol.answer_parse_error(error)
            return
        super().report_server_error(error, source)


def build_server(settings: Settings | None = None) -> InfillServer:
    server = InfillServer(settings)
    register(server, server.services)
    return server


class LspClient:
    """The services' ``Client`` port over pygls."""

    def __init__(self, server: LanguageServer) -> None:
        self.server = server

    def log(self, message: str, level: types.MessageType = types.MessageType.Log) -> None:
        log.info(message)
        self._send(
            lambda: self.server.window_log_message(
                types.LogMessageParams(type=level, message=message)
            )
        )

    def tell(self, message: str, level: types.MessageType = types.MessageType.Error) -> None:
        log.warning(message)
        self._send(
            lambda: self.server.window_show_message(
                types.ShowMessageParams(type=level, message=message)
            )
        )

    def notify(self, method: str, params: Any) -> None:
        self._send(lambda: self.server.protocol.notify(method, params))

    @staticmethod
    def _send(send) -> None:
        try:
            send()
        except Exception as exc:  # no transport yet (unit tests) or the client is gone
            log.debug("not sent to the client: %s", exc)

    async def progress(self, title: str, task: asyncio.Task | None = None) -> Progress:
        """A server-initiated $/progress (nothing where the client does not take progress).
        With ``task``, the progress is cancellable: the client's cancel cancels the task."""
        caps = self.server.client_capabilities.window
        if caps is None or not caps.work_done_progress:
            return NoProgress()
        token = f"infill-{uuid.uuid4()}"
        progress = self.server.work_done_progress
        try:
            await progress.create_async(token)
        except Exception as exc:  # a client that refuses progress still gets its answer
            log.info("progress refused: %s", exc)
            return NoProgress()
        begin = types.WorkDoneProgressBegin(title=title, percentage=0, cancellable=bool(task))
        progress.begin(token, begin)
        cancelled = progress.tokens.get(token)
        if task is not None and cancelled is not None:
            cancelled.add_done_callback(
                lambda f: f.cancelled() and task.get_loop().call_soon_threadsafe(task.cancel)
            )
        return LspProgress(self.server, token, asyncio.get_running_loop())

    async def watch_files(self, glob: str) -> None:
        """Register ``workspace/didChangeWatchedFiles`` for ``glob`` where the client takes
        dynamic registration."""
        caps = self.server.client_capabilities.workspace
        watched = caps.did_change_watched_files if caps else None
        if watched is None or not watched.dynamic_registration:
            return
        options = types.DidChangeWatchedFilesRegistrationOptions(
            watchers=[types.FileSystemWatcher(glob_pattern=glob)]
        )
        registration = types.Registration(
            id="infill-watched-files",
            method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
            register_options=options,
        )
        try:
            await self.server.client_register_capability_async(
                types.RegistrationParams(registrations=[registration])
            )
        except Exception as exc:  # a client that refuses still has the file watcher
            log.info("didChangeWatchedFiles not registered: %s", exc)


class LspProgress:
    def __init__(self, server: LanguageServer, token: str, loop: asyncio.AbstractEventLoop):
        self.server, self.token, self.loop = server, token, loop

    def report(self, message: str, percentage: int) -> None:
        value = types.WorkDoneProgressReport(message=message, percentage=percentage)
        self.loop.call_soon_threadsafe(self.server.work_done_progress.report, self.token, value)

    def end(self, message: str) -> None:
        progress = self.server.work_done_progress
        progress.end(self.token, types.WorkDoneProgressEnd(message=message))
        progress.tokens.pop(self.token, None)
