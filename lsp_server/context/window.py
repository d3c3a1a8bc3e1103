"""Prefix/suffix windows measured in the model's own tokens, cut on line boundaries.

When the prefix window cannot reach the top of the file, the lines that matter most from the
dropped middle are pinned in front of it: the file's imports and the headers of the scopes
enclosing the cursor (``class A:``/``def f(self, x):``), found with tree-sitter. Unknown
languages fall back to plain line windows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from lsp_server.context.anchor import indent_end, is_anchor
from lsp_server.context.mode import decide_mode
from lsp_server.context.types import Context
from lsp_server.syntax import tree as syntax
from lsp_server.syntax.incremental import DocumentTrees

CountTokens = Callable[[str], int]

# Share of the prefix budget that pinned lines (imports + scope headers) may take.
PINNED_SHARE = 0.3
# A single line longer than this is clipped (minified files would blow the budget on one line).
MAX_LINE_CHARS = 2000


@dataclass(frozen=True)
class Budget:
    prefix_tokens: int = 1500
    suffix_tokens: int = 500


def _take_lines(lines: list[str], budget: int, count: CountTokens) -> int:
    """How many of ``lines`` (in the order given) fit in ``budget`` tokens."""
    used = 0
    for i, line in enumerate(lines):
        used += count(line[:MAX_LINE_CHARS] + "\n")
        if used > budget:
            return i
    return len(lines)


def _header_lines(node, source_lines: list[str]) -> list[int]:
    """Line numbers of a scope's header: from its start to the line where its body begins."""
    body = node.child_by_field_name("body")
    start = node.start_point[0]
    end = body.start_point[0] if body is not None else start
    if body is not None and body.start_point[0] == start:
        end = start  # `function f() {` on one line
    elif body is not None and source_lines[end][: body.start_point[1]].strip():
        pass  # the body starts mid-line: that line is the end of the header (`) {`)
    else:
        end = max(start, end - 1)
    return list(range(start, min(end, start + 5) + 1))  # very long signatures are clipped


def _pinned_lines(
    text: str,
    language: str,
    offset: int,
    first_kept: int,
    path: str = "",
    trees: DocumentTrees | None = None,
) -> list[int]:
    """Line numbers (above ``first_kept``) of imports and enclosing headers, in file order.
    The tree comes from ``trees`` when given (the open documents': between keystrokes, an
    incremental re-parse), else from a fresh parse."""
    if not language:
        return []
    tree = trees.parse(path, language, text) if trees is not None else syntax.parse(language, text)
    if tree is None:
        return []
    source = text.encode("utf-8")
    byte_offset = len(text[:offset].encode("utf-8"))
    source_lines = text.split("\n")
    wanted: set[int] = set()
    for node in syntax.top_level_imports(tree):
        wanted.update(range(node.start_point[0], node.end_point[0] + 1))
    for scope in syntax.enclosing_scopes(tree, source, byte_offset):
        wanted.update(_header_lines(scope, source_lines))
    return sorted(n for n in wanted if n < first_kept)


def build_context(
    text: str,
    offset: int,
    language: str,
    count: CountTokens,
    budget: Budget = Budget(),
    path: str = "",
    anchor: int | None = None,
    trees: DocumentTrees | None = None,
) -> Context:
    """The model's view of ``text`` with the cursor at character ``offset``.

    ``anchor`` (a line start at or above the cursor, see ``context.anchor``): the text from it to
    the cursor becomes the context's ``head``, and the prefix window is measured from the anchor,
    so it does not slide while the user types below it. Default: the cursor's line start.
    """
    offset = max(0, min(offset, len(text)))
    if anchor is None or not is_anchor(text, anchor, offset):
        anchor = indent_end(text, offset)
    before, after = text[:anchor], text[offset:]
    above = before.split("\n")
    indent = above.pop()  # the anchor line's indentation: the end of ABOVE, stable while typing
    head_lines = text[anchor:offset].split("\n")
    line_prefix = indent + head_lines[0] if len(head_lines) == 1 else head_lines[-1]
    head = "".join(line[:MAX_LINE_CHARS] + "\n" for line in head_lines[:-1])
    head += head_lines[-1][-MAX_LINE_CHARS:]
    below = after.split("\n")
    line_suffix = below.pop(0)

    # The window above the anchor gets the whole prefix budget (the head, at most a few lines,
    # comes on top); it depends only on text above the anchor, so it is the same on every
    # keystroke while the anchor stays.
    n_above = _take_lines(above[::-1], budget.prefix_tokens, count)
    first_kept = len(above) - n_above
    kept_above = above[first_kept:]

    pinned: list[str] = []
    if first_kept > 0:
        pinned_budget = int(budget.prefix_tokens * PINNED_SHARE)
        candidates = _pinned_lines(text, language, anchor, first_kept, path, trees)
        n_pinned = _take_lines([above[i] for i in candidates], pinned_budget, count)
        pinned = [above[i] for i in candidates[:n_pinned]]
        # Pinned lines are paid for by dropping the oldest lines of the window.
        cost = sum(count(line + "\n") for line in pinned)
        while kept_above and cost > 0:
            cost -= count(kept_above.pop(0)[:MAX_LINE_CHARS] + "\n")

    suffix_budget = max(0, budget.suffix_tokens - count(line_suffix[:MAX_LINE_CHARS]))
    kept_below = below[: _take_lines(below, suffix_budget, count)]

    prefix_lines = pinned + [line[:MAX_LINE_CHARS] for line in kept_above]
    prefix = "".join(line + "\n" for line in prefix_lines) + indent[:MAX_LINE_CHARS] + head
    suffix = line_suffix[:MAX_LINE_CHARS] + "".join(
        "\n" + line[:MAX_LINE_CHARS] for line in kept_below
    )
    return Context(
        prefix=prefix,
        suffix=suffix,
        language=language,
        mode=decide_mode(line_prefix, line_suffix),
        path=path,
        head=len(head),
    )
