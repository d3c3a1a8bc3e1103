"""Small syntax questions answered with tree-sitter, shared by context and postprocess."""

from __future__ import annotations

from collections.abc import Iterator

from tree_sitter import Node, Tree

from lsp_server.syntax.languages import parser

# Node types that open a scope whose header we keep in the prompt and whose end bounds a
# multi-line answer. One list for all grammars: type names rarely collide across languages.
SCOPE_TYPES = frozenset(
    {
        # python
        "function_definition",
        "class_definition",
        "decorated_definition",
        # javascript / typescript
        "function_declaration",
        "function_expression",
        "generator_function_declaration",
        "arrow_function",
        "method_definition",
        "class_declaration",
        "class",
        "interface_declaration",
        # go
        "method_declaration",
        "type_declaration",
        "func_literal",
        # rust
        "function_item",
        "impl_item",
        "trait_item",
        "struct_item",
        "enum_item",
        "mod_item",
        # java
        "constructor_declaration",
        "enum_declaration",
        # c / c++
        "struct_specifier",
        "class_specifier",
        "namespace_definition",
    }
)

IMPORT_TYPES = frozenset(
    {
        "import_statement",  # python, js/ts
        "import_from_statement",  # python
        "future_import_statement",  # python
        "import_declaration",  # go, java
        "use_declaration",  # rust
        "extern_crate_declaration",  # rust
        "preproc_include",  # c / c++
        "package_declaration",  # java
        "package_clause",  # go
    }
)


def parse(language: str, text: str) -> Tree | None:
    p = parser(language)
    if p is None:
        return None
    return p.parse(text.encode("utf-8"))


def error_count(tree: Tree) -> int:
    """Number of ERROR and MISSING nodes: how broken the text is, comparable before/after."""
    count = 0
    cursor = tree.walk()
    visited_children = False
    while True:
        node = cursor.node
        if not visited_children:
            if node is not None and (node.is_error or node.is_missing):
                count += 1
            if node is not None and node.has_error and cursor.goto_first_child():
                continue
        if cursor.goto_next_sibling():
            visited_children = False
            continue
        if not cursor.goto_parent():
            return count
        visited_children = True


def syntax_errors(language: str, text: str) -> int | None:
    """Error count of ``text`` parsed as ``language``; None when there is no grammar."""
    tree = parse(language, text)
    return None if tree is None else error_count(tree)


def enclosing_scopes(tree: Tree, source: bytes, byte_offset: int) -> list[Node]:
    """Scope nodes (functions, classes, ...) containing the byte offset, outermost first.

    A cursor on a blank line after a block's last statement lies outside that block's node in
    indentation languages, so the lookup starts from the last non-blank byte before the cursor.
    """
    scopes: list[Node] = []
    while byte_offset > 0 and source[byte_offset - 1 : byte_offset] in (b" ", b"\t", b"\n", b"\r"):
        byte_offset -= 1
    probe = max(byte_offset - 1, 0)
    node: Node | None = tree.root_node.descendant_for_byte_range(probe, probe)
    while node is not None:
        if node.type in SCOPE_TYPES and node.start_byte < byte_offset <= node.end_byte:
            scopes.append(node)
        node = node.parent
    scopes.reverse()
    return scopes


def top_level_imports(tree: Tree) -> Iterator[Node]:
    """Import-like statements at the top level of the file, in order."""
    for child in tree.root_node.children:
        if child.type in IMPORT_TYPES:
            yield child
        elif child.type == "expression_statement" and child.named_child_count == 1:
            # JS `const x = require(...)` is too loose to detect cheaply: skip.
            continue


# Declarators that wrap a C/C++ function's name.
_DECLARATORS = ("function_declarator", "pointer_declarator", "reference_declarator")


def function_name(node: Node) -> str:
    """The declared name of a function node ("" for anonymous ones)."""
    name = node.child_by_field_name("name")
    if name is not None and name.text is not None:
        return name.text.decode("utf-8", errors="replace")
    declarator = node.child_by_field_name("declarator")  # C / C++
    while declarator is not None and declarator.type in _DECLARATORS:
        declarator = declarator.child_by_field_name("declarator")
    if declarator is not None and declarator.text is not None:
        return declarator.text.decode("utf-8", errors="replace")
    parent = node.parent  # JS `const f = () => ...` / `f = function () {...}`
    if parent is not None and parent.type in ("variable_declarator", "assignment_expression"):
        target = parent.child_by_field_name("name") or parent.child_by_field_name("left")
        if target is not None and target.text is not None:
            return target.text.decode("utf-8", errors="replace")
    return ""
