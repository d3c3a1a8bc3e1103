"""The open documents: their text (pygls' workspace), trees and anchors, owned here.

Editor documents -> pipeline snapshots, with every bad-input check in one place: a request on a
document we cannot serve (not open, position outside it, binary, huge, a disabled language) gets
a reason string instead of a snapshot; the server answers it with an empty result and logs the
reason, and never raises. ``DocumentService`` owns what is kept per document besides its text
(the incremental trees, the prompt anchors) and forgets both when the document closes.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from urllib.parse import unquote

from lsprotocol import types
from pygls import uris
from pygls.uris import to_fs_path
from pygls.workspace import TextDocument, Workspace

from lsp_server.context.anchor import AnchorMemory
from lsp_server.context.types import Snapshot
from lsp_server.settings import Settings
from lsp_server.syntax.incremental import DocumentTrees
from lsp_server.syntax.languages import normalise

log = logging.getLogger("infill-lsp")

_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")
_OTHER_BREAKS = re.compile("[\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")  # splitlines' extra ones


class LspTextDocument(TextDocument):
    """pygls' document with LSP's lines: only ``\n``, ``\r\n`` and ``\r`` end a line.

    pygls splits with ``str.splitlines``, which also breaks at a form feed, ``\x1c``-``\x1e``,
    ``\x85``, ``\u2028`` and ``\u2029``: in a file with a form feed (common in C and older
    Python) every position below it named another line than the editor meant, and edits went
    to the wrong place."""

    @property
    def lines(self) -> tuple[str, ...]:
        """Split once per text (a request asks several times: the position check, the clamp,
        the offset; each split of a 120 KB module costs ~1 ms)."""
        source = self.source
        cached = self.__dict__.get("_lsp_lines")
        if cached is not None and cached[0] is source:  # every edit makes a new string
            return cached[1]
        if _OTHER_BREAKS.search(source) is None:  # the usual case: splitlines is faster
            lines = tuple(source.splitlines(True))
        else:
            lines = tuple(_LINE.findall(source))
        self.__dict__["_lsp_lines"] = (source, lines)
        return lines


class LspWorkspace(Workspace):
    """pygls' workspace making ``LspTextDocument``s."""

    def _create_text_document(
        self,
        doc_uri: str,
        source: str | None = None,
        version: int | None = None,
        language_id: str | None = None,
    ) -> TextDocument:
        return LspTextDocument(
            doc_uri,
            source=source,
            version=version,
            language_id=language_id,
            sync_kind=self._sync_kind,
            position_codec=self._position_codec,
        )


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
    outside = position_outside(doc, position)
    if outside:
        return outside
    offset = doc.offset_at_position(clamped(doc, position))
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


def position_outside(doc: TextDocument, position: types.Position) -> str:
    """Why ``position`` is not in ``doc`` (a line past its end), or "". A character past
    its line's end is in: LSP says it "defaults back to the line length" (``clamped``)."""
    lines = len(doc.lines)
    if position.line < 0 or position.character < 0:
        return "negative position"
    if position.line > lines or (position.line == lines and position.character > 0):
        return f"line {position.line} is past the end of the document ({lines} lines)"
    return ""


def clamped(doc: TextDocument, position: types.Position) -> types.Position:
    """``position`` with its character no further than its line's end (client units)."""
    if position.line >= len(doc.lines):
        return position
    line = doc.lines[position.line].rstrip("\r\n")
    end = doc.position_codec.client_num_units(line)
    return position if position.character <= end else types.Position(position.line, end)


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


def _outside(doc: TextDocument, change_range: types.Range) -> str:
    """Why an incremental change's range does not lie in ``doc``, or ""."""
    start, end = change_range.start, change_range.end
    lines = len(doc.lines)
    for name, pos in (("start", start), ("end", end)):
        if pos.line > lines or (pos.line == lines and pos.character > 0):
            return f"range {name} {pos.line}:{pos.character} is past the end ({lines} lines)"
    if (start.line, start.character) > (end.line, end.character):
        return f"range start {start.line}:{start.character} is after its end"
    return ""


def _key(uri: str) -> str:
    """The key pygls' workspace keeps a document under: its URI percent-decoded (VS Code
    sends ``file:///c%3A/...`` and encodes spaces and non-ASCII names)."""
    return unquote(uri)


def _clamped_change(
    doc: TextDocument, change: types.TextDocumentContentChangePartial
) -> types.TextDocumentContentChangePartial:
    """``change`` with a character past its line's end moved back to the line's end, as LSP
    says (pygls would otherwise carry the edit over into the next line)."""
    start, end = clamped(doc, change.range.start), clamped(doc, change.range.end)
    if (start, end) == (change.range.start, change.range.end):
        return change
    return types.TextDocumentContentChangePartial(
        range=types.Range(start=start, end=end), text=change.text, range_length=change.range_length
    )


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
        # uri -> why our copy no longer matches the editor's (until a full sync or reopen)
        self.diverged: dict[str, str] = {}

    def change(self, params: types.DidChangeTextDocumentParams) -> str:
        """Apply a didChange to the workspace copy, or refuse it: "" when applied (or when
        refused on a copy already out of sync), else what to tell the user.

        A change that would leave our copy different from the editor's (a stale or repeated
        version, a range outside the document, a start after the end) is not applied and the
        document is marked diverged: requests on it are refused (``locate``) until the editor
        sends the whole text again or reopens it. Changes on a diverged copy are skipped."""
        uri, version = params.text_document.uri, params.text_document.version
        doc, key = self.get(uri), _key(uri)
        if doc is None:
            log.warning("didChange for %s, which is not open: ignored", uri)
            return ""
        changes = params.content_changes
        resync = any(isinstance(c, types.TextDocumentContentChangeWholeDocument) for c in changes)
        if not resync and doc.version is not None and version <= doc.version:
            return self._diverge(key, f"version {version} does not follow {doc.version}")
        doc.version = version  # a whole text resyncs whatever its version (a reset counter)
        for change in changes:
            if isinstance(change, types.TextDocumentContentChangeWholeDocument):
                self.diverged.pop(key, None)
            elif key in self.diverged:
                continue  # an edit to text we no longer have
            elif why := _outside(doc, change.range):
                return self._diverge(key, why)
            else:
                change = _clamped_change(doc, change)
            doc.apply_change(change)
        return ""

    def lost(self, uri: str, why: str) -> str:
        """A didChange for ``uri`` that could not be read: the edit is lost, so is the sync."""
        if self.get(uri) is None:
            return ""
        return self._diverge(_key(uri), f"an edit that could not be read ({why})")

    def _diverge(self, key: str, why: str) -> str:
        """Hold ``key``'s copy out of sync; what to tell the user ("" when already told)."""
        if key in self.diverged:
            return ""
        self.diverged[key] = why
        return (
            f"infill-lsp: {key.rsplit('/', 1)[-1]} is out of sync with the editor ({why}); "
            "no suggestions there until it is closed and reopened"
        )

    def get(self, uri: str) -> TextDocument | None:
        return self._workspace().text_documents.get(_key(uri))

    def uris(self) -> list[str]:
        return list(self._workspace().text_documents)

    def path_of(self, uri: str) -> str:
        """The path the pipeline knows the document by (``Snapshot.path``)."""
        return to_fs_path(uri) or uri

    def locate(self, uri: str, position: types.Position, settings: Settings) -> Located | str:
        if why := self.diverged.get(_key(uri)):
            return f"document is out of sync ({why}): reopen it"
        return locate(self.get(uri), position, settings)

    def anchored(self, uri: str, snapshot: Snapshot, *, remember: bool = True) -> Snapshot:
        """The snapshot with this document's prompt anchor (``context.anchor``); a warm-up
        looks (``remember=False``) without moving the anchor the user types at."""
        anchors = self.anchors
        pick = anchors.anchor if remember else anchors.peek
        return replace(snapshot, anchor=pick(uri, snapshot.text, snapshot.offset))

    def position_outside(self, uri: str, *positions: types.Position) -> str:
        """Why one of ``positions`` lies outside the open document ``uri``, or "" (also when
        it is not open or out of sync: requests on it are answered empty, ``locate``)."""
        doc = self.get(uri) if _key(uri) not in self.diverged else None
        reasons = (position_outside(doc, p) for p in positions) if doc is not None else ()
        return next((r for r in reasons if r), "")

    def warm(self, uri: str, settings: Settings) -> bool:
        """The didOpen parse (blocking: run it off the event loop)."""
        return warm_tree(self.get(uri), settings, self.trees)

    def describe(self, uri: str) -> dict[str, object] | None:
        """What we hold of ``uri`` for ``infill/status``: its version, a digest of our copy
        (so a client can check the copies agree without sending code back) and why it is
        out of sync, if it is; None when it is not open."""
        doc = self.get(uri)
        if doc is None:
            return None
        return {
            "version": doc.version,
            "sha256": hashlib.sha256(doc.source.encode("utf-8", "surrogatepass")).hexdigest(),
            "outOfSync": self.diverged.get(_key(uri)),
        }

    def open(self, uri: str) -> None:
        """didOpen: the editor sent the whole text, so our copy is in sync again."""
        self.diverged.pop(_key(uri), None)

    def in_sync(self, uri: str) -> bool:
        return _key(uri) not in self.diverged

    def close(self, uri: str) -> None:
        """didClose: the document's tree and anchor go (its text is pygls')."""
        self.diverged.pop(_key(uri), None)
        self.anchors.forget(uri)
        self.trees.forget(to_fs_path(uri) or uri)

    def units(self, text: str) -> int:
        """``text``'s length in the client's position units (UTF-16 by default)."""
        return self._workspace().position_codec.client_num_units(text)

    def place(self, uri: str, position: types.Position) -> tuple[int, int]:
        """``position`` as ``(line, character)``, clamped to its line's end as LSP says."""
        doc = self.get(uri)
        at = clamped(doc, position) if doc is not None else position
        return at.line, at.character

    def text_between(self, uri: str, start: tuple[int, int], end: tuple[int, int]) -> str | None:
        """The text from ``start`` to ``end`` (``(line, character)`` in client units), reading
        only those lines; None when the document is not open or out of sync."""
        doc = self.get(uri) if self.in_sync(uri) else None
        if doc is None or end < start:
            return None
        lines, units = doc.lines, doc.position_codec.client_num_units

        def index(line: int, character: int) -> int:
            text = lines[line] if line < len(lines) else ""
            count = 0
            for i, char in enumerate(text):
                if count >= character or char in "\r\n":
                    return i
                count += units(char)
            return len(text)

        first, last = start[0], end[0]
        if first == last:
            return lines[first][index(*start) : index(*end)] if first < len(lines) else ""
        middle = "".join(lines[first + 1 : min(last, len(lines))])
        head = lines[first][index(*start) :] if first < len(lines) else ""
        tail = lines[last][: index(*end)] if last < len(lines) else ""
        return head + middle + tail

    def folders(self) -> list[str]:
        """The workspace folders the client named, as paths."""
        folders = [f.uri for f in (self._workspace().folders or {}).values()]
        paths = [uris.to_fs_path(uri) or "" for uri in folders if uri.startswith("file:")]
        return [p for p in paths if p]

    def root(self) -> str:
        """The workspace root the client named ("" when none)."""
        return self._workspace().root_path or ""
