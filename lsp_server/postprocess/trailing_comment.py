"""Cut the end-of-line comments the model adds to its code when the document writes none.

The instruct model narrates: ``m = l[0]  # Assume the first element is the maximum initially``.
In a file whose code lines carry no end-of-line comments that is noise the user must delete
after accepting, and it hides an otherwise exact line (5 of the 0.5B's misses on B1's full
set). The document decides: where any code line in the window ends with a comment, the answer's
comments are the file's style and stay. Whole-line comments are never touched (they may be what
the user wants written), nor a comment the user started typing on the cursor's line or after
their own code on it, nor anything when the cursor is inside a string or comment (a docstring
or a JSDoc block begun lines above: a `#` or `//` there is prose, not a comment).

tree-sitter tells comments from ``#`` or ``//`` inside strings, in every grammar we ship.
"""

from __future__ import annotations

from tree_sitter import Node, Tree

from lsp_server.context.types import Context
from lsp_server.postprocess._filter import Filter
from lsp_server.syntax.languages import parser as make_parser


def _comments(tree: Tree) -> list[Node]:
    """All comment nodes (``comment``, ``line_comment``, ``block_comment``), in order."""
    found: list[Node] = []
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.type.endswith("comment"):
            found.append(node)
            continue
        stack.extend(reversed(node.children))
    return found


def _inside_text(tree: Tree, offset: int) -> bool:
    """Whether byte ``offset`` of the parsed window lies inside a string or a comment (one
    that may have started lines above the cursor, like a docstring or a JSDoc block)."""
    node: Node | None = tree.root_node.descendant_for_byte_range(offset, offset)
    while node is not None:
        if ("string" in node.type or node.type.endswith("comment")) and (
            node.start_byte < offset < node.end_byte
        ):
            return True
        node = node.parent
    return False


def _trailing(source: bytes, comments: list[Node], start: int = 0) -> list[tuple[int, int]]:
    """(cut from, cut to) byte spans of the comments that end a code line, from ``start`` on.

    A trailing comment has code before it on its line and nothing but blanks after it; the
    span starts at the blanks separating it from the code, so cutting it leaves the code as
    typed.
    """
    spans = []
    for node in comments:
        if node.start_byte < start:
            continue
        line_start = source.rfind(b"\n", 0, node.start_byte) + 1
        # Only code from ``start`` on counts: after the user's own `x = 1  `, a comment is
        # what they were about to type.
        before = source[max(line_start, start) : node.start_byte]
        if not before.strip():
            continue  # a whole-line comment
        line_end = source.find(b"\n", node.end_byte)
        after = source[node.end_byte : len(source) if line_end < 0 else line_end]
        if after.strip():
            continue  # code follows (`/* x */ y`): part of the line, not a tail
        cut = node.start_byte
        while cut > max(line_start, start) and source[cut - 1 : cut] in (b" ", b"\t"):
            cut -= 1
        spans.append((cut, node.end_byte))
    return spans


def apply(text: str, ctx: Context) -> str:
    if "#" not in text and "/" not in text:
        return text  # no comment starts in any grammar we ship: skip the parse
    parser = make_parser(ctx.language) if ctx.language else None
    if parser is None:
        return text
    # The answer is parsed after the text left of the cursor, so its first line is judged as
    # the whole line it completes; comments the user typed there are not the model's.
    head = ctx.line_prefix.encode("utf-8")
    source = head + text.encode("utf-8")
    spans = _trailing(source, _comments(parser.parse(source)), start=len(head))
    if not spans:
        return text
    window = (ctx.prefix + ctx.suffix).encode("utf-8")
    tree = parser.parse(window)
    if _inside_text(tree, len(ctx.prefix.encode("utf-8"))):
        return text  # the cursor is in a docstring, comment or string: `#` there is prose
    if _trailing(window, _comments(tree)):
        return text  # the file comments its lines: that is its style
    for cut, end in reversed(spans):
        source = source[:cut] + source[end:]
    return source[len(head) :].decode("utf-8")


# It only cuts narrating end-of-line comments: the code before them was the model's start.
FILTER = Filter(apply, wrong_start=False)
