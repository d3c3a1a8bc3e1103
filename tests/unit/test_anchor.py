"""Anchor memory: the prompt's stable part stays put while the user types below it."""

from lsp_server.context.anchor import MAX_HEAD_CHARS, MAX_HEAD_LINES, AnchorMemory

TEXT = "import os\n\ndef f(x):\n    \n    return x\n"
CURSOR = TEXT.index("    \n") + 4  # after the blank line's indentation


def typed(text: str, offset: int, chars: str) -> tuple[str, int]:
    return text[:offset] + chars + text[offset:], offset + len(chars)


def test_first_request_anchors_after_the_cursor_line_indentation():
    memory = AnchorMemory()
    assert memory.anchor("u", TEXT, CURSOR) == TEXT.index("    \n") + 4


def test_anchor_stays_while_typing_including_new_lines():
    memory = AnchorMemory()
    first = memory.anchor("u", TEXT, CURSOR)
    text, off = TEXT, CURSOR
    for chars in ("y", " = x", "\n    z", " = y"):
        text, off = typed(text, off, chars)
        assert memory.anchor("u", text, off) == first


def test_anchor_moves_when_the_text_above_it_changes():
    memory = AnchorMemory()
    memory.anchor("u", TEXT, CURSOR)
    text = "import sys\n" + TEXT
    off = CURSOR + len("import sys\n")
    assert memory.anchor("u", text, off) == text.index("    \n") + 4


def test_anchor_moves_when_the_cursor_leaves_the_region_below_it():
    memory = AnchorMemory()
    memory.anchor("u", TEXT, CURSOR)
    above = TEXT.index("def f") + 3
    assert memory.anchor("u", TEXT, above) == TEXT.index("def f")


def test_anchor_moves_when_the_head_grows_too_long():
    memory = AnchorMemory()
    first = memory.anchor("u", TEXT, CURSOR)
    text, off = typed(TEXT, CURSOR, "x = 1\n    " * (MAX_HEAD_LINES + 1))
    moved = memory.anchor("u", text, off)
    assert moved > first and moved == text.rfind("\n", 0, off) + 1 + 4
    text, off = typed(TEXT, CURSOR, "#" * (MAX_HEAD_CHARS + 1))
    assert memory.anchor("v", TEXT, CURSOR) == first
    assert memory.anchor("v", text, off) == first  # still the same line: its start again


def test_documents_are_independent_and_bounded():
    memory = AnchorMemory(max_documents=2)
    memory.anchor("a", TEXT, CURSOR)
    text, off = typed(TEXT, CURSOR, "y = 1\n    ")
    memory.anchor("b", text, off)
    memory.anchor("c", TEXT, CURSOR)
    # "a" was evicted: a request after typing gets a fresh anchor on its own line
    text, off = typed(TEXT, CURSOR, "y = 1\n    ")
    assert memory.anchor("a", text, off) == text.rfind("\n", 0, off) + 1 + 4
