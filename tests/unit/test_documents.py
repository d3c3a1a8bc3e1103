"""Bad input and position encodings at the LSP edge (no model needed)."""

import pytest
from lsprotocol import types
from pygls.workspace import PositionCodec, TextDocument, Workspace

from lsp_server.services.documents import (
    DocumentService,
    Located,
    LspTextDocument,
    LspWorkspace,
    locate,
    warm_tree,
)
from lsp_server.settings import Settings
from lsp_server.syntax.incremental import DocumentTrees


def doc(text: str, encoding=types.PositionEncodingKind.Utf16, language="python") -> TextDocument:
    return TextDocument(
        "file:///w/a.py", text, language_id=language, position_codec=PositionCodec(encoding)
    )


def at(d: TextDocument, line: int, character: int, settings: Settings | None = None):
    return locate(d, types.Position(line=line, character=character), settings or Settings())


LINE = 's = "😀世界" + '


def test_utf16_columns_count_emoji_as_two_units():
    d = doc(LINE + "\n")
    located = at(d, 0, len(LINE.encode("utf-16-le")) // 2)
    assert isinstance(located, Located)
    assert located.snapshot.offset == len(LINE)


def test_utf8_columns_when_negotiated():
    d = doc(LINE + "\n", types.PositionEncodingKind.Utf8)
    located = at(d, 0, len(LINE.encode("utf-8")))
    assert isinstance(located, Located) and located.snapshot.offset == len(LINE)


def test_crlf_documents_are_normalised_with_the_offset():
    d = doc("a = 1\r\nb = 2\r\nc = ")
    located = at(d, 2, 4)
    assert isinstance(located, Located) and located.crlf
    assert located.snapshot.text[: located.snapshot.offset] == "a = 1\nb = 2\nc = "


def test_bad_inputs_get_reasons_not_exceptions():
    assert at_none() == "document is not open"
    d = doc("x = 1\n")
    assert "past the end" in at(d, 5, 0)
    assert "past the end" in at(d, 1, 3)  # the empty last line has no column 3


def test_a_character_past_the_line_end_defaults_back_to_the_line_length():
    """LSP: "If the character value is greater than the line length it defaults back to the
    line length" -- in UTF-16 units, on a CRLF line and on the last line alike."""
    d = doc("a = '\U0001f600'\r\nbb\r\ncc")
    first = at(d, 0, 50)
    assert isinstance(first, Located) and first.snapshot.offset == len("a = '\U0001f600'")
    last = at(d, 2, 9)
    assert isinstance(last, Located) and last.snapshot.offset == len(last.snapshot.text)
    assert "binary" in at(doc("a\x00b"), 0, 1)
    assert "larger" in at(doc("x" * 5000), 0, 1, Settings(max_file_bytes=1000))
    disabled = Settings(disabled_languages=("python",))
    assert "disabled" in at(d, 0, 0, disabled)


def at_none():
    return locate(None, types.Position(line=0, character=0), Settings())


def test_end_of_document_position_is_valid():
    d = doc("x = 1\n")
    located = at(d, 1, 0)
    assert isinstance(located, Located) and located.snapshot.offset == 6
    assert located.snapshot.language == "python"


def test_a_document_opened_is_parsed_before_its_first_request():
    """warm_tree (run on didOpen) leaves the tree the first request's context window needs: that
    request then re-parses incrementally, not from scratch."""
    from lsp_server.context.window import Budget, build_context

    trees = DocumentTrees()
    text = "import os\r\n\r\ndef f(x):\r\n    return os.path.join(x, 'a')\r\n" * 40
    d = TextDocument("file:///w/warm.py", text, language_id="python")
    assert warm_tree(d, Settings(), trees)
    edited = TextDocument("file:///w/warm.py", text + "y = ", language_id="python")
    located = at(edited, 160, 4)
    assert isinstance(located, Located)
    before = trees.incremental
    snap = located.snapshot
    build_context(
        snap.text, snap.offset, snap.language, len, Budget(400, 100), snap.path, trees=trees
    )
    assert trees.incremental == before + 1


def test_nothing_is_parsed_for_a_binary_or_huge_document():
    trees = DocumentTrees()
    assert not warm_tree(doc("a\x00b"), Settings(), trees)
    assert not warm_tree(doc("x = 1\n" * 50), Settings(max_file_bytes=100), trees)
    assert not warm_tree(None, Settings(), trees)


def _service(text: str = "ab\ncd\n"):
    workspace = Workspace("file:///w")
    item = types.TextDocumentItem(uri="file:///w/a.py", language_id="python", version=1, text=text)
    workspace.put_text_document(item)
    return DocumentService(lambda: workspace), workspace.get_text_document("file:///w/a.py")


def _change(version: int, *changes: tuple[tuple[int, int, int, int], str] | str):
    events: list[types.TextDocumentContentChangeEvent] = []
    for c in changes:
        if isinstance(c, str):
            events.append(types.TextDocumentContentChangeWholeDocument(text=c))
        else:
            (sl, sc, el, ec), text = c
            rng = types.Range(start=types.Position(sl, sc), end=types.Position(el, ec))
            events.append(types.TextDocumentContentChangePartial(range=rng, text=text))
    ident = types.VersionedTextDocumentIdentifier(uri="file:///w/a.py", version=version)
    return types.DidChangeTextDocumentParams(text_document=ident, content_changes=events)


def test_changes_in_order_are_applied():
    service, d = _service()
    assert service.change(_change(2, ((0, 2, 0, 2), "X"), ((2, 0, 2, 0), "tail"))) == ""
    assert d.source == "abX\ncd\ntail" and d.version == 2
    assert isinstance(service.locate(d.uri, types.Position(2, 4), Settings()), Located)


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (_change(1, ((0, 0, 0, 0), "X")), "version 1 does not follow 1"),
        (_change(0, ((0, 0, 0, 0), "X")), "version 0 does not follow 1"),
        (_change(2, ((5, 0, 5, 0), "X")), "range start 5:0 is past the end"),
        (_change(2, ((0, 0, 2, 3), "X")), "range end 2:3 is past the end"),
        (_change(2, ((1, 1, 0, 1), "X")), "range start 1:1 is after its end"),
    ],
    ids=[
        "repeated version",
        "stale version",
        "start past the end",
        "end past the end",
        "start after end",
    ],
)
def test_a_diverging_change_is_refused_and_the_document_held_out_of_sync(change, why):
    service, d = _service()
    told = service.change(change)
    assert why in told and "closed and reopened" in told
    assert d.source == "ab\ncd\n"  # nothing applied
    located = service.locate(d.uri, types.Position(0, 1), Settings())
    assert isinstance(located, str) and "out of sync" in located
    assert service.position_outside(d.uri, types.Position(99, 0)) == ""  # empty, not an error
    # later incremental edits cannot repair it (they edit text we no longer have), nor is
    # the user told again
    assert service.change(_change(9, ((0, 0, 0, 0), "Y"))) == ""
    assert service.change(_change(9, ((0, 0, 0, 0), "Y"))) == ""  # a stale one: still quiet
    assert d.source == "ab\ncd\n"
    assert "out of sync" in service.locate(d.uri, types.Position(0, 1), Settings())
    # the whole text (a full sync, whatever its version) or a reopen brings it back
    assert service.change(_change(3, "fresh\n")) == ""
    assert d.source == "fresh\n" and d.version == 3
    assert isinstance(service.locate(d.uri, types.Position(0, 1), Settings()), Located)
    service.change(_change(3, ((0, 0, 0, 0), "Z")))
    service.open(d.uri)
    assert isinstance(service.locate(d.uri, types.Position(0, 1), Settings()), Located)


def test_a_change_to_a_document_that_is_not_open_is_ignored():
    service, _ = _service()
    params = _change(2, "x")
    params.text_document.uri = "file:///w/other.py"
    assert service.change(params) == ""  # logged, nothing to tell the user


def test_an_edit_that_could_not_be_read_holds_the_copy_out_of_sync():
    service, d = _service()
    told = service.lost(d.uri, "params.contentChanges: invalid value")
    assert "could not be read" in told
    assert "out of sync" in service.locate(d.uri, types.Position(0, 1), Settings())
    assert service.lost("file:///w/never-opened.py", "whatever") == ""


def test_a_change_character_past_the_line_end_edits_at_the_line_end():
    """LSP: a character past the line's length defaults back to it; pygls carried the edit
    over into the next line."""
    service, d = _service("abc\ndef")
    assert service.change(_change(2, ((0, 9, 0, 9), "X"), ((1, 9, 1, 9), "Y"))) == ""
    assert d.source == "abcX\ndefY"


def test_documents_are_found_by_a_percent_encoded_uri():
    """VS Code sends file:///c%3A/... and encodes spaces and non-ASCII names; pygls keeps
    the document under the decoded URI."""
    workspace = LspWorkspace("file:///w")
    encoded = "file:///w/my%20proj/caf%C3%A9.py"
    item = types.TextDocumentItem(uri=encoded, language_id="python", version=1, text="x = 1\n")
    workspace.put_text_document(item)
    service = DocumentService(lambda: workspace)
    assert service.get(encoded) is not None
    assert service.change(_change_for(encoded, 2, ((0, 4, 0, 5), "2"))) == ""
    assert service.get(encoded).source == "x = 2\n"
    assert isinstance(service.locate(encoded, types.Position(0, 5), Settings()), Located)
    assert service.describe(encoded)["version"] == 2


def _change_for(uri: str, version: int, *changes):
    params = _change(version, *changes)
    params.text_document.uri = uri
    return params


def test_lines_end_only_where_lsp_says_so():
    """A form feed, \\x85 or \\u2028 is inside a line for LSP (and VS Code, Neovim); pygls'
    ``splitlines`` ended lines there, so positions below one named the wrong line."""
    text = "a\x0cb\nc\u2028d\x85\r\ne\rf"
    workspace = LspWorkspace("file:///w")
    item = types.TextDocumentItem(uri="file:///w/a.py", language_id="python", version=1, text=text)
    workspace.put_text_document(item)
    d = workspace.get_text_document(item.uri)
    assert d.lines == ("a\x0cb\n", "c\u2028d\x85\r\n", "e\r", "f")
    located = locate(d, types.Position(line=1, character=1), Settings())
    assert isinstance(located, Located)
    assert located.snapshot.text[located.snapshot.offset :].startswith("\u2028d")


def test_lines_are_split_once_per_text():
    d = LspTextDocument("file:///w/a.py", "a\nb\n")
    assert d.lines is d.lines  # asked again for the same text: the same split
    d._source = "a\x0cb\n"  # an edit: a new text, split again (with LSP's rule)
    assert d.lines == ("a\x0cb\n",)
