"""Bad input and position encodings at the LSP edge (no model needed)."""

from lsprotocol import types
from pygls.workspace import PositionCodec, TextDocument

from lsp_server.services.documents import Located, locate, warm_tree
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
    assert "past the end" in at(d, 0, 50)
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
