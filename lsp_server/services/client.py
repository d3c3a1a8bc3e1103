"""What the services need from the editor on the other end, as a port they are handed.

The services never import the LSP server: they talk to the client through this protocol, which
``lsp_server.server.LspClient`` implements over pygls, and unit tests implement with a recorder.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from lsprotocol import types


class Progress(Protocol):
    """One ``$/progress`` bar; every call is a no-op where the client takes no progress."""

    def report(self, message: str, percentage: int) -> None:
        """Thread-safe: model loading and indexing report from worker threads."""

    def end(self, message: str) -> None: ...


class Client(Protocol):
    def log(self, message: str, level: types.MessageType = types.MessageType.Log) -> None:
        """A diagnostic of ours: ``window/logMessage`` and the stderr log."""

    def tell(self, message: str, level: types.MessageType = types.MessageType.Error) -> None:
        """A message the user can act on: shown in the editor, and logged."""

    def notify(self, method: str, params: Any) -> None:
        """A notification of ours (``infill/statusChanged``); dropped without a transport."""

    async def progress(self, title: str, task: asyncio.Task | None = None) -> Progress:
        """Begin a progress bar; with ``task``, the client's cancel button cancels it."""

    async def watch_files(self, glob: str) -> None:
        """Ask the client to report changes of files matching ``glob`` (when it can)."""


class NoProgress:
    """The progress of a client that takes none."""

    def report(self, message: str, percentage: int) -> None:
        pass

    def end(self, message: str) -> None:
        pass


def warn_from_thread(
    client: Client, loop: asyncio.AbstractEventLoop | None, message: str, logger: Any
) -> None:
    """A fault seen on a worker thread (a store's writer, the index): to the client on its
    event loop, or to ``logger`` when there is no running loop (before start, after stop)."""
    if loop is None or loop.is_closed():
        logger.warning("%s", message)
        return
    loop.call_soon_threadsafe(client.log, message, types.MessageType.Warning)


def percent(done: int, total: int) -> int:
    return int(done * 100 / total) if total else 100
