"""Incremental re-parse of open documents (syntax.incremental): the tree after an edit is the
tree a fresh parse gives, and the edit tree-sitter is told about is the real one."""

from __future__ import annotations

import random

import pytest

from lsp_server.syntax.incremental import DocumentTrees, diff
from lsp_server.syntax.tree import parse

SOURCE = '''import os
from .models import User


class Greeter:
    """Says hello — in any language."""

    def greet(self, user: User) -> str:
        name = user.name or "wörld"
        return f"hello {name}"


def main() -> None:
    print(Greeter().greet(User(os.getlogin())))
'''


def test_diff_names_the_changed_span_in_bytes_and_points():
    old = b"ab\ncd\n"
    new = b"ab\ncXYd\n"
    edit = diff(old, new)
    assert (edit.start_byte, edit.old_end_byte, edit.new_end_byte) == (4, 4, 6)
    assert tuple(edit.start_point) == (1, 1)
    assert tuple(edit.new_end_point) == (1, 3)


def test_diff_of_a_deleted_line_and_of_equal_texts():
    edit = diff(b"a\nb\nc\n", b"a\nc\n")
    assert (edit.start_byte, edit.old_end_byte, edit.new_end_byte) == (2, 4, 2)
    assert tuple(edit.old_end_point) == (2, 0)
    same = diff(b"xyz", b"xyz")
    assert same.start_byte == same.old_end_byte == same.new_end_byte == 3


def test_diff_columns_count_bytes_not_characters():
    edit = diff("wörld = 1\n".encode(), "wörlds = 1\n".encode())
    assert tuple(edit.start_point) == (0, len("wörld".encode()))


def _edits(text: str, rng: random.Random):
    """Typing, deleting and pasting at random places, as an editor sends them."""
    for _ in range(40):
        at = rng.randrange(len(text) + 1)
        kind = rng.choice(["type", "delete", "newline", "paste"])
        if kind == "type":
            text = text[:at] + rng.choice("abc_(): ö") + text[at:]
        elif kind == "delete":
            text = text[:at] + text[at + rng.randrange(1, 12) :]
        elif kind == "newline":
            text = text[:at] + "\n    " + text[at:]
        else:
            text = text[:at] + "\ndef pasted(x):\n    return x\n" + text[at:]
        yield text


@pytest.mark.parametrize("seed", range(5))
def test_incremental_trees_equal_fresh_parses(seed):
    trees = DocumentTrees()
    trees.parse("doc.py", "python", SOURCE)
    for text in _edits(SOURCE, random.Random(seed)):
        got = trees.parse("doc.py", "python", text)
        assert str(got.root_node) == str(parse("python", text).root_node)
        assert got.root_node.end_byte == len(text.encode())
    assert trees.incremental == 40


def test_same_text_is_the_cached_tree_and_a_held_tree_is_never_edited():
    trees = DocumentTrees()
    first = trees.parse("doc.py", "python", SOURCE)
    assert trees.parse("doc.py", "python", SOURCE) is first
    before = str(first.root_node)
    trees.parse("doc.py", "python", "x = 1\n" + SOURCE)
    assert str(first.root_node) == before  # a caller still walking it sees what it parsed
    assert first.root_node.start_point == (0, 0)
    assert trees.incremental == 1


def test_capacity_and_language_change():
    trees = DocumentTrees(capacity=2)
    for name in ("a.py", "b.py", "c.py"):
        trees.parse(name, "python", SOURCE)
    trees.parse("a.py", "python", SOURCE + "\n")
    assert trees.incremental == 0  # a.py was evicted: a fresh parse
    tree = trees.parse("b.py", "javascript", "const x = 1;\n")
    assert tree.root_node.type == "program" and trees.incremental == 0
    assert trees.parse("x.unknown", "", "text") is None


def test_a_document_named_through_a_symlink_shares_its_tree(tmp_path):
    """The window knows a document by its editor path, the index by its resolved path: in a
    symlinked folder both must reach one cached tree, or each pays a full parse."""
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    trees = DocumentTrees()
    text = "def f(x):\n    return x\n" * 20
    first = trees.parse(str(tmp_path / "link" / "a.py"), "python", text)
    assert trees.parse(str(real / "a.py"), "python", text) is first
    trees.parse(str(real / "a.py"), "python", text + "y = 1\n")
    assert trees.incremental == 1
