"""Find the function (or method) around a cursor or range with tree-sitter, in any language we
have a grammar for.

What the fix action needs about it: the whole lines it spans (edits are whole-line hunks), its
name (an answer that renames or drops it is rejected), its header (an answer that changes the
signature is rejected unless the user asked for it) and a little context to show the model: the
file's imports and the headers of enclosing classes.
"""

from __future__ import annotations

from dataclasses import dataclass

from tree_sitter import Node, Tree

from lsp_server.syntax import tree as syntax

# Node types that are functions or methods, across our grammars (Python and C/C++ share
# "function_definition").
FUNCTION_TYPES = frozenset(
    {
        "function_definition",  # python, c, c++
        "function_declaration",  # javascript, typescript, go
        "generator_function_declaration",
        "function_expression",
        "arrow_function",
        "method_definition",  # javascript / typescript
        "method_declaration",  # go, java
        "constructor_declaration",  # java
        "func_literal",  # go
        "function_item",  # rust
    }
)


@dataclass(frozen=True)
class FunctionSpan:
    """A function as whole lines of the document (``end_line`` exclusive)."""

    name: str
    start_line: int
    end_line: int
    text: str  # the whole lines, each ending with "\n" (the last one may lack it at EOF)
    header: str  # from the first line to where the body starts, whitespace-normalised
    indent: str  # leading whitespace of the first line
    context: str  # imports + enclosing class/impl headers, for the prompt ("" if none)


def header_text(node: Node) -> str:
    """The signature: the node's text up to its body, whitespace-normalised."""
    body = node.child_by_field_name("body")
    source = node.text or b""
    if body is not None:
        source = source[: body.start_byte - node.start_byte]
    return " ".join(source.decode("utf-8", errors="replace").split())


def functions_in(root: Node) -> list[Node]:
    """Every function node under ``root`` (pre-order)."""
    found: list[Node] = []
    stack = [root]
    while stack:
        node = stack.pop()
        if node.type in FUNCTION_TYPES:
            found.append(node)
        stack.extend(reversed(node.children))
    return found


def _innermost(root: Node, start: int, end: int) -> Node | None:
    """The innermost named function containing bytes [start, end]."""
    node: Node | None = root.descendant_for_byte_range(start, max(start, end))
    while node is not None:
        inside = node.start_byte <= start and end <= node.end_byte
        if node.type in FUNCTION_TYPES and inside and syntax.function_name(node):
            return node
        node = node.parent
    return None


def _context(tree: Tree, source: bytes, node: Node, lines: list[str]) -> str:
    picked: list[int] = []
    for imp in syntax.top_level_imports(tree):
        picked.extend(range(imp.start_point[0], imp.end_point[0] + 1))
    for scope in syntax.enclosing_scopes(tree, source, node.start_byte):
        if scope.type not in FUNCTION_TYPES and scope.start_byte < node.start_byte:
            picked.append(scope.start_point[0])  # `class Stack:` / `impl Foo {`
    picked = sorted(set(n for n in picked if n < node.start_point[0]))[:40]
    return "".join(lines[n] + "\n" for n in picked)


def find_function(
    text: str, language: str, start: int, end: int | None = None
) -> FunctionSpan | None:
    """The function around characters [start, end] of ``text``; None when the cursor is not
    inside a named function or the language has no grammar."""
    tree = syntax.parse(language, text)
    if tree is None:
        return None
    end = start if end is None else end
    to_byte = _byte_offsets(text)
    node = _innermost(tree.root_node, to_byte(start), to_byte(end))
    if node is None:
        return None
    lines = text.split("\n")
    first, last = node.start_point[0], node.end_point[0]
    body = "".join(line + "\n" for line in lines[first : last + 1])
    if last == len(lines) - 1:
        body = body[:-1]  # the document's last line has no newline after it
    first_line = lines[first]
    return FunctionSpan(
        name=syntax.function_name(node),
        start_line=first,
        end_line=last + 1,
        text=body,
        header=header_text(node),
        indent=first_line[: len(first_line) - len(first_line.lstrip())],
        context=_context(tree, text.encode("utf-8"), node, lines),
    )


def _byte_offsets(text: str):
    """Character offset -> UTF-8 byte offset (tree-sitter counts bytes)."""
    if text.isascii():
        return lambda offset: offset
    return lambda offset: len(text[:offset].encode("utf-8"))
