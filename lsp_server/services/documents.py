"""The open documents: their text (pygls' workspace), trees and anchors, owned here.

Editor documents -> pipeline snapshots, with every bad-input check in one place: a request on a
document we cannot serve (not open, position outside it, binary, huge, a disabled language) gets
a reason string instead of a snapshot; the server answers it with an empty result and logs the
reason, and never raises. ``DocumentService`` owns what is kept per document besides its text
(the incremental trees, the prompt anchors) and forgets both when the document closes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from lsprotocol import types
from pygls import uris
from pygls.uris import to_fs_path
from pygls.workspace import TextDocument, Workspace

from lsp_server.context.anchor import AnchorMemory
from lsp_server.context.types import Snapshot
from lsp_server.settings import Settings
from lsp_server.syntax.incremental import DocumentTrees
from lsp_server.syntax.languages import normalise


@dataclass(frozen=True)
class Located:
    snapshot: Snapshot
    crlf: bool  # the document uses CRLF: answers are converted back before they are sent


def locate(doc: TextDocument | None, position: types.Position, settings: Settings) -> Located | str:
    """Snapshot of ``doc`` at ``position`` (client units), or why there is none."""
    if doc is None:
        return "document is not open"
    source = doc.source
    refused = _unservable(source, settings)
    if refused:
        return refused
    lines = doc.lines
    if position.line < 0 or position.character < 0:
        return "negative position"
    if position.line > len(lines) or (position.line == len(lines) and position.character > 0):
        return f"line {position.line} is past the end of the document ({len(lines)} lines)"
    if position.line < len(lines):
        line = lines[position.line].rstrip("\r\n")
        if position.character > doc.position_codec.client_num_units(line):
            return f"column {position.character} is past the end of line {position.line}"
    offset = doc.offset_at_position(position)
    path, language = _identity(doc)
    if language in settings.disabled_languages or (
        doc.language_id and doc.language_id in settings.disabled_languages
    ):
        return f"completions are disabled for {doc.language_id or language}"
    crlf = "\r\n" in source
    if crlf:
        offset -= source.count("\r\n", 0, offset)
        source = source.replace("\r\n", "\n")
    return Located(Snapshot(source, offset, language, path), crlf)


def warm_tree(doc: TextDocument | None, settings: Settings, trees: DocumentTrees) -> bool:
    """Parse a document that was just opened into ``trees``, as its first completion will
    see it, so that request re-parses incrementally instead of from scratch (~20 ms for a
    2,700-line module on a 2-core laptop). Run off the event loop. False: nothing to parse."""
    if doc is None or _unservable(doc.source, settings):
        return False
    path, language = _identity(doc)
    return trees.parse(path, language, doc.source.replace("\r\n", "\n")) is not None


def _unservable(source: str, settings: Settings) -> str:
    """Why a document's text cannot be served at all, or ""."""
    if len(source) > settings.max_file_bytes:
        return f"document is larger than maxFileBytes ({settings.max_file_bytes})"
    if "\x00" in source:
        return "document looks binary"
    return ""


def _identity(doc: TextDocument) -> tuple[str, str]:
    """(path, normalised language): the keys the pipeline knows a document by."""
    path = to_fs_path(doc.uri) or doc.uri
    return path, normalise(doc.language_id, path)


def restore_line_ends(text: str, crlf: bool) -> str:
    """Text computed on the LF snapshot, in the document's own line ends."""
    return text.replace("\n", "\r\n") if crlf else text


class DocumentService:
    """The open documents. Text and versions are pygls' (its workspace applies the edits);
    trees and anchors are kept here, one entry per document, dropped on ``close``."""

    def __init__(self, workspace: Callable[[], Workspace]) -> None:
        self._workspace = workspace  # the server's, which exists once the client initialized
        self.trees = DocumentTrees()
        self.anchors = AnchorMemory()

    def get(self, uri: str) -> TextDocument | None:
        return self._workspace().text_documents.get(uri)

    def uris(self) -> list[str]:
        return list(self._workspace().text_documents)

    def path_of(self, uri: str) -> str:
        """The path the pipeline knows the document by (``Snapshot.path``)."""
        return to_fs_path(uri) or uri

    def locate(self, uri: str, position: types.Position, settings: Settings) -> Located | str:
        return locate(self.get(uri), position, settings)

    def anchored(self, uri: str, snapshot: Snapshot, *, remember: bool = True) -> Snapshot:
        """The snapshot with this document's prompt anchor (``context.anchor``); a warm-up
        looks (``remember=False``) without moving the anchor the user types at."""
        anchors = self.anchors
        pick = anchors.anchor if remember else anchors.peek
        return replace(snapshot, anchor=pick(uri, snapshot.text, snapshot.offset))

    def warm(self, uri: str, settings: Settings) -> bool:
        """The didOpen parse (blocking: run it off the event loop)."""
        return warm_tree(self.get(uri), settings, self.trees)

    def close(self, uri: str) -> None:
        """didClose: the document's tree and anchor go (its text is pygls')."""
        self.anchors.forget(uri)
        self.trees.forget(to_fs_path(uri) or uri)

    def folders(self) -> list[str]:
        """The workspace folders the client named, as paths."""
        folders = [f.uri for f in (self._workspace().folders or {}).values()]
        paths = [uris.to_fs_path(uri) or "" for uri in folders if uri.startswith("file:")]
        return [p for p in paths if p]

    def root(self) -> str:
        """The workspace root the client named ("" when none)."""
        return self._workspace().root_path or ""
