"""The repository index as the server keeps it: built on ``initialized`` (in the background,
with progress), kept fresh (watchdog, ``workspace/didChangeWatchedFiles``, open documents' live
text), rebuilt or dropped when its settings change.

What goes wrong in it (a corrupt, locked or unwritable store, a storm of changes) is met on the
scan's and the watcher's threads and told to the client once, from the event loop
(``_report``); completions only read the index in memory and never wait for any of it.

The index itself is ``lsp_server.index``; its use in a prompt ``lsp_server.context.retrieval``.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from lsprotocol import types
from pygls import uris

from lsp_server.index.watcher import IndexWatcher
from lsp_server.index.workspace import WorkspaceIndex
from lsp_server.paths import canonical
from lsp_server.services.client import Client, percent, warn_from_thread
from lsp_server.services.config import Applied, Config
from lsp_server.services.documents import DocumentService
from lsp_server.syntax.languages import EXTENSIONS, normalise

log = logging.getLogger("infill-lsp")


class IndexService:
    def __init__(self, client: Client, config: Config, documents: DocumentService) -> None:
        self.client = client
        self.config = config
        self.documents = documents
        self.index: WorkspaceIndex | None = None
        self.watcher: IndexWatcher | None = None
        self._scan_task: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def roots(self) -> list[Path]:
        """The workspace folders on disk, never the whole home folder."""
        out: list[Path] = []
        root = self.documents.root()
        home = canonical(str(Path.home()))
        for raw in self.documents.folders() or ([root] if root else []):
            path = canonical(raw)
            if Path(path).is_dir() and path != home:
                out.append(Path(path))
        return out

    def start(self) -> None:
        """Create the index (cheap) and scan it in the background; completions find more in it
        as the scan goes on."""
        settings = self.config.settings
        if not settings.indexes_workspace() or self.index is not None:
            return
        roots = self.roots()
        if not roots:
            return
        self._loop = asyncio.get_running_loop()
        index = WorkspaceIndex(
            settings.repo_ignore, trees=self.documents.trees, report=self._report
        )
        for root in roots:
            index.add_folder(root)
        self.index = index
        # The editor's file events are coalesced with the watcher's from the start.
        self.watcher = IndexWatcher(index, report=self._report)
        for uri in self.documents.uris():
            self.live(uri)
        self._scan_task = asyncio.ensure_future(self._scan(index))

    def stop(self, wait: bool = True) -> None:
        """Stop the scan, the watcher and the store. ``wait=False`` (SIGTERM: the process
        exits next): only tell them; no thread is joined and the store is not closed (closing
        waits for a write under way; SQLite's journal keeps the store whole through the
        exit)."""
        watcher, self.watcher = self.watcher, None
        index, self.index = self.index, None  # the scan stops at its next file
        if watcher is not None:
            watcher.stop(wait=wait)
        if index is not None and wait:
            index.close()

    def settings_changed(self, applied: Applied) -> None:
        """Turned on -> build; off -> drop; other ignore globs -> build again."""
        if not applied.new.indexes_workspace():
            self.stop()
        elif self.index is None or applied.new.repo_ignore != applied.old.repo_ignore:
            self.stop()
            self.start()

    async def _scan(self, index: WorkspaceIndex) -> None:
        progress = await self.client.progress("infill-lsp: indexing the workspace")

        def report(done: int, total: int) -> None:
            if total:
                progress.report(f"{done}/{total} files", percent(done, total))

        def scan_all() -> None:
            for folder in index.folders:
                index.scan(folder, report, cancelled=lambda: self.index is not index)

        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(None, scan_all)
        except Exception as exc:  # an index failure costs cross-file context, never the server
            log.exception("indexing failed")
            self.client.log(f"indexing failed: {exc}", types.MessageType.Warning)
        stats = index.stats
        message = f"{stats.files} files, {stats.symbols} symbols in {stats.last_scan_ms:.0f} ms"
        progress.end(message)
        self.client.log(f"index: {message} ({stats.reused} unchanged from the cache)")
        watcher = self.watcher
        if self.index is index and watcher is not None:
            try:
                await loop.run_in_executor(None, watcher.start, [f.root for f in index.folders])
            except OSError as exc:  # e.g. the inotify watch limit: the editor's events remain
                self.client.log(f"file watcher not started: {exc}", types.MessageType.Warning)
            if self.watcher is not watcher:  # stopped meanwhile (the watcher stopped itself)
                return
            # Editors see changes a file watcher can miss (remote file systems, watch limits).
            await self.client.watch_files("**/*{" + ",".join(sorted(EXTENSIONS)) + "}")

    def live(self, uri: str) -> None:
        """An open document's current text replaces its file's in the index."""
        doc = self.documents.get(uri)
        path = uris.to_fs_path(uri) if uri.startswith("file:") else None
        if self.index is None or doc is None or not path:
            return
        self.index.set_live(path, doc.source, normalise(doc.language_id, path))

    def close(self, uri: str) -> None:
        path = uris.to_fs_path(uri) if uri.startswith("file:") else None
        if self.index is not None and path:
            self.index.close_live(path)

    async def files_changed(self, changes: list[types.FileEvent]) -> None:
        """``workspace/didChangeWatchedFiles``: into the watcher's queue, where they meet its
        own events of the same files; applied off the event loop (whether a file was deleted
        is read from the disk then)."""
        if self.watcher is None:
            return
        paths = (uris.to_fs_path(c.uri) for c in changes if c.uri.startswith("file:"))
        self.watcher.queue_all(p for p in paths if p)

    def _report(self, message: str) -> None:
        """An index fault, from any thread: to the client, on the event loop."""
        warn_from_thread(self.client, self._loop, message, log)
