"""Token-budgeted windows: line boundaries, budgets, pinned imports and headers."""

from lsp_server.context.types import Mode
from lsp_server.context.window import Budget, build_context


def count(text: str) -> int:
    """A stand-in tokenizer: one token per 4 characters (the window logic is tokenizer-agnostic)."""
    return max(1, len(text) // 4)


SOURCE = (
    "import os\n"
    "from typing import Any\n"
    "\n"
    "class Store:\n"
    '    """Keeps things."""\n'
    "\n" + "".join(f"    FIELD_{i} = {i}  # padding line number {i}\n" for i in range(60)) + "\n"
    "    def lookup(self, key: str) -> Any:\n"
    "        value = self.data.get(key)\n"
    "        \n"
    "        return value\n"
)


def cursor_at(marker: str, text: str = SOURCE) -> int:
    return text.index(marker) + len(marker)


def test_whole_file_fits_prefix_and_suffix_exact():
    text = "a = 1\nb = 2\nc = \nd = 4\n"
    off = cursor_at("c = ", text)
    ctx = build_context(text, off, "python", count)
    assert ctx.prefix == "a = 1\nb = 2\nc = "
    assert ctx.suffix == "\nd = 4\n"
    assert ctx.prefix + ctx.suffix == text
    assert ctx.mode is Mode.SINGLE_LINE


def test_windows_cut_on_line_boundaries_within_budget():
    off = cursor_at("self.data.get(key)\n        ")
    ctx = build_context(SOURCE, off, "python", count, Budget(prefix_tokens=120, suffix_tokens=4))
    assert ctx.prefix.endswith("value = self.data.get(key)\n        ")
    assert ctx.line_prefix == "        "
    # The suffix budget is tiny: only whole lines, never half a line.
    assert ctx.suffix in ("", "\n        return value", "\n        return value\n")
    kept = [line for line in ctx.prefix.split("\n")[:-1]]
    assert all(line in SOURCE.split("\n") for line in kept)
    assert sum(count(line + "\n") for line in kept) <= 120


def test_dropped_middle_keeps_imports_and_enclosing_headers():
    off = cursor_at("self.data.get(key)\n        ")
    ctx = build_context(SOURCE, off, "python", count, Budget(prefix_tokens=120, suffix_tokens=50))
    lines = ctx.prefix.split("\n")
    assert lines[0] == "import os" and lines[1] == "from typing import Any"
    assert "class Store:" in lines
    assert "    def lookup(self, key: str) -> Any:" in lines
    assert "    FIELD_0 = 0  # padding line number 0" not in lines  # the middle was dropped
    assert ctx.mode is Mode.MULTI_LINE


def test_unknown_language_falls_back_to_plain_line_windows():
    off = cursor_at("self.data.get(key)\n        ")
    ctx = build_context(SOURCE, off, "", count, Budget(prefix_tokens=120, suffix_tokens=50))
    assert not ctx.prefix.startswith("import os")
    assert ctx.prefix.endswith("value = self.data.get(key)\n        ")


def test_offset_is_clamped_and_empty_document_works():
    ctx = build_context("", 10, "python", count)
    assert ctx.prefix == "" and ctx.suffix == ""


def test_enormous_single_line_is_clipped():
    text = "x = [" + "1, " * 100_000 + "]\n"
    ctx = build_context(text, len(text) - 2, "python", count)
    assert len(ctx.prefix) <= 2000 and len(ctx.suffix) <= 2001


def test_head_is_the_cursor_line_by_default_and_follows_the_anchor():
    text = "a = 1\nb = 2\nc = \nd = 4\n"
    off = cursor_at("c = ", text)
    ctx = build_context(text, off, "python", count)
    assert (ctx.above, ctx.head_text) == ("a = 1\nb = 2\n", "c = ")
    anchored = build_context(text, off, "python", count, anchor=text.index("b = 2"))
    assert anchored.prefix == ctx.prefix and anchored.suffix == ctx.suffix
    assert (anchored.above, anchored.head_text) == ("a = 1\n", "b = 2\nc = ")
    assert anchored.mode is ctx.mode  # decided by the cursor's line, not the anchor's


def test_an_anchor_that_is_not_a_line_start_at_or_above_the_cursor_is_ignored():
    text = "a = 1\nb = 2\nc = \nd = 4\n"
    off = cursor_at("c = ", text)
    for bad in (text.index("= 2"), text.index("d = 4"), -3):
        assert build_context(text, off, "python", count, anchor=bad).head_text == "c = "


def test_window_above_the_anchor_does_not_slide_while_typing_below_it():
    # A budget too small for the file: the window's first line must not move as the head grows.
    anchor = SOURCE.index("        value = ")
    budget = Budget(prefix_tokens=120, suffix_tokens=20)
    contexts = []
    for typed in ("", "v", "value", "value = 1\n        x"):
        text = SOURCE[:anchor] + typed + SOURCE[anchor:]
        off = anchor + len(typed)
        contexts.append(build_context(text, off, "python", count, budget, anchor=anchor))
    assert len({c.above for c in contexts}) == 1
    assert len({c.suffix for c in contexts}) == 1
    assert [c.head_text for c in contexts] == ["", "v", "value", "value = 1\n        x"]


def test_default_anchor_keeps_the_indentation_before_the_suffix_marker():
    # An auto-indented blank line: the model sees the indentation as context (the layout it
    # was trained on) and its answer starts at code.
    text = "def f(x):\n    \n    return x\n"
    ctx = build_context(text, text.index("    \n") + 4, "python", count)
    assert (ctx.above, ctx.head_text, ctx.pending) == ("def f(x):\n    ", "", "")
    typed = text.replace("    \n", "    y = \n")
    ctx = build_context(typed, typed.index("y = ") + 4, "python", count)
    assert (ctx.above, ctx.head_text, ctx.pending) == ("def f(x):\n    ", "y = ", " ")
