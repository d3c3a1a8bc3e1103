"""LSP wiring of the repository index: build it on ``initialized`` (in the background, with
$/progress), keep it fresh (watchdog, ``workspace/didChangeWatchedFiles``, open documents'
live text), rebuild or drop it when its settings change.

Only protocol translation lives here; the index is ``lsp_server.index``, its use in a prompt
``lsp_server.context.retrieval``.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from lsprotocol import types
from pygls import uris

from lsp_server.documents import warm_tree
from lsp_server.index.watcher import IndexWatcher
from lsp_server.index.workspace import WorkspaceIndex
from lsp_server.server import InfillServer, progress_begin, server
from lsp_server.syntax.languages import EXTENSIONS, normalise

log = logging.getLogger("infill-lsp")

WATCH_REGISTRATION = "infill-watched-files"


def workspace_roots(ls: InfillServer) -> list[Path]:
    """The workspace folders on disk (the root when the client sent no folders)."""
    folders = [f.uri for f in (ls.workspace.folders or {}).values()]
    paths = [uris.to_fs_path(uri) for uri in folders if uri.startswith("file:")]
    if not paths and ls.workspace.root_path:
        paths = [ls.workspace.root_path]
    out: list[Path] = []
    for raw in paths:
        if raw and Path(raw).is_dir() and Path(raw).resolve() != Path.home().resolve():
            out.append(Path(raw).resolve())  # never the whole home folder
    return out


def start(ls: InfillServer) -> None:
    """Create the index (cheap) and scan it in the background; the completer gets it now and
    finds more in it as the scan goes on."""
    if not ls.settings.indexes_workspace() or ls.index is not None:
        return
    roots = workspace_roots(ls)
    if not roots:
        return
    index = WorkspaceIndex(ls.settings.repo_ignore)
    for root in roots:
        index.add_folder(root)
    ls.index = index
    if ls.completer is not None:
        ls.completer.index = index
    for doc in list(ls.workspace.text_documents.values()):
        _live(ls, doc.uri)
    ls._index_task = asyncio.ensure_future(_scan(ls, index))


def stop(ls: InfillServer) -> None:
    if ls.watcher is not None:
        ls.watcher.stop()
        ls.watcher = None
    if ls.index is not None:
        ls.index.close()
    ls.index = None
    if ls.completer is not None:
        ls.completer.index = None


def settings_changed(ls: InfillServer, old_ignore: tuple[str, ...]) -> None:
    """Turned on -> build; off -> drop; other ignore globs -> build again."""
    if not ls.settings.indexes_workspace():
        stop(ls)
    elif ls.index is None or ls.settings.repo_ignore != old_ignore:
        stop(ls)
        start(ls)


async def _scan(ls: InfillServer, index: WorkspaceIndex) -> None:
    progress = await progress_begin(ls, "infill-lsp: indexing the workspace")
    loop = asyncio.get_running_loop()

    def report(done: int, total: int) -> None:
        if progress is not None and total:
            pct = int(done * 100 / total)
            value = types.WorkDoneProgressReport(message=f"{done}/{total} files", percentage=pct)
            loop.call_soon_threadsafe(ls.work_done_progress.report, progress, value)

    def scan_all() -> None:
        for folder in index.folders:
            index.scan(folder, report, cancelled=lambda: ls.index is not index)

    try:
        await loop.run_in_executor(None, scan_all)
    except Exception as exc:  # an index failure costs cross-file context, never the server
        log.exception("indexing failed")
        ls.log(f"indexing failed: {exc}", types.MessageType.Warning)
    stats = index.stats
    message = f"{stats.files} files, {stats.symbols} symbols in {stats.last_scan_ms:.0f} ms"
    if progress is not None:
        ls.work_done_progress.end(progress, types.WorkDoneProgressEnd(message=message))
    ls.log(f"index: {message} ({stats.reused} unchanged from the cache)")
    if ls.index is index:
        watcher = IndexWatcher(index)
        await loop.run_in_executor(None, watcher.start, [f.root for f in index.folders])
        ls.watcher = watcher
        await _register_watched_files(ls)


async def _register_watched_files(ls: InfillServer) -> None:
    """Ask the client to tell us of file changes too (when it supports dynamic registration):
    editors see changes a file watcher can miss (remote file systems, watch limits)."""
    caps = ls.client_capabilities.workspace
    watched = caps.did_change_watched_files if caps else None
    if watched is None or not watched.dynamic_registration:
        return
    pattern = "**/*{" + ",".join(sorted(EXTENSIONS)) + "}"
    options = types.DidChangeWatchedFilesRegistrationOptions(
        watchers=[types.FileSystemWatcher(glob_pattern=pattern)]
    )
    registration = types.Registration(
        id=WATCH_REGISTRATION,
        method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
        register_options=options,
    )
    try:
        await ls.client_register_capability_async(
            types.RegistrationParams(registrations=[registration])
        )
    except Exception as exc:  # a client that refuses still has the file watcher
        log.info("didChangeWatchedFiles not registered: %s", exc)


def _live(ls: InfillServer, uri: str) -> None:
    doc = ls.workspace.text_documents.get(uri)
    path = uris.to_fs_path(uri) if uri.startswith("file:") else None
    if ls.index is None or doc is None or not path:
        return
    ls.index.set_live(path, doc.source, normalise(doc.language_id, path))


@server.feature(types.TEXT_DOCUMENT_DID_OPEN)
async def on_open(ls: InfillServer, params: types.DidOpenTextDocumentParams) -> None:
    uri = params.text_document.uri
    _live(ls, uri)
    # The first full parse happens now, in a thread, rather than on the first keystroke.
    doc = ls.workspace.text_documents.get(uri)
    try:
        await asyncio.get_running_loop().run_in_executor(None, warm_tree, doc, ls.settings)
    except Exception:  # a failed warm-up only means the first request parses in full
        log.exception("parsing %s on open failed", uri)


@server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
def on_change(ls: InfillServer, params: types.DidChangeTextDocumentParams) -> None:
    _live(ls, params.text_document.uri)


@server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
def on_close(ls: InfillServer, params: types.DidCloseTextDocumentParams) -> None:
    path = uris.to_fs_path(params.text_document.uri)
    if ls.index is not None and path:
        ls.index.close_live(path)


@server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
async def on_watched_files(ls: InfillServer, params: types.DidChangeWatchedFilesParams) -> None:
    index = ls.index
    if index is None:
        return
    paths = [uris.to_fs_path(c.uri) for c in params.changes if c.uri.startswith("file:")]
    deleted = {
        uris.to_fs_path(c.uri) for c in params.changes if c.type == types.FileChangeType.Deleted
    }

    def apply() -> None:
        for path in paths:
            if not path:
                continue
            if path in deleted:
                index.remove_under(path)
            else:
                index.update_file(path)

    await asyncio.get_running_loop().run_in_executor(None, apply)
