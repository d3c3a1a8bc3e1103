"""Symbols of one file, with tree-sitter, in every language we have a grammar for.

What the repository index keeps per file: its definitions (functions, classes, methods, types,
module-level constants: name, kind, signature, the docstring's or leading comment's first line,
line range, enclosing class) and, for Python and JS/TS, its imports (local name -> module and
imported name), which is how an identifier near the cursor resolves to another file.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from tree_sitter import Node, Query, QueryCursor, Tree

from lsp_server.syntax import languages
from lsp_server.syntax import tree as syntax
from lsp_server.syntax.tree import function_name

MAX_SIGNATURE = 240
MAX_DOC = 120

# Node type -> kind of definition.
DEFINITIONS = {
    "function_definition": "function",  # python, c, c++
    "function_declaration": "function",  # js, ts, go
    "generator_function_declaration": "function",
    "function_item": "function",  # rust
    "class_definition": "class",  # python
    "class_declaration": "class",  # js, ts, java
    "abstract_class_declaration": "class",
    "method_definition": "method",  # js, ts
    "method_declaration": "method",  # go, java
    "constructor_declaration": "method",  # java
    "interface_declaration": "type",  # ts, java
    "type_alias_declaration": "type",
    "enum_declaration": "type",
    "struct_item": "type",  # rust
    "enum_item": "type",
    "trait_item": "type",
    "type_item": "type",
    "type_spec": "type",  # go (inside type_declaration)
    "const_item": "constant",  # rust
    "static_item": "constant",
}
# Nodes whose children are looked at too (wrappers and class bodies), not function bodies.
CONTAINERS = frozenset(
    {
        "decorated_definition",
        "export_statement",
        "type_declaration",
        "block",  # a Python class body (only entered from a class)
        "class_body",
        "declaration_list",  # rust impl/trait bodies, c++ namespaces
        "impl_item",
        "namespace_definition",
        "field_declaration_list",
    }
)
COMMENTS = frozenset({"comment", "line_comment", "block_comment"})
WRAPPERS = frozenset({"export_statement", "decorated_definition"})
_IDENT = re.compile(r"^[A-Za-z_$][\w$]*$")


@dataclass(frozen=True)
class Symbol:
    name: str
    kind: str  # function | class | method | type | constant | variable
    signature: str  # the header up to the body, whitespace-normalised
    doc: str  # first line of the docstring or the comment above ("" if none)
    start_line: int
    end_line: int  # inclusive
    parent: str = ""  # enclosing class/impl name for methods


@dataclass(frozen=True)
class Import:
    local: str  # the name bound in this file
    module: str  # "pkg.mod", ".mod" (relative, Python), "./x" (JS)
    name: str = ""  # the imported name ("" = the module itself)


@dataclass(frozen=True)
class FileSymbols:
    symbols: tuple[Symbol, ...]
    imports: tuple[Import, ...]


def _text(node: Node | None) -> str:
    if node is None or node.text is None:
        return ""
    return node.text.decode("utf-8", errors="replace")


def squash(text: str, limit: int) -> str:
    """Whitespace runs to one space, cut to ``limit`` characters with an ellipsis."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _signature(node: Node, source: bytes) -> str:
    body = node.child_by_field_name("body")
    end = body.start_byte if body is not None else node.end_byte
    header = source[node.start_byte : end].decode("utf-8", errors="replace")
    return squash(header.rstrip().rstrip("{").rstrip(), MAX_SIGNATURE)


def _doc(node: Node) -> str:
    """Python: the docstring's first line; others: the comment right above."""
    body = node.child_by_field_name("body")
    if body is not None and body.type == "block" and body.named_child_count:
        first = body.named_children[0]
        if first.type == "expression_statement" and first.named_child_count:
            string = first.named_children[0]
            if string.type == "string":
                inner = _text(string).strip("'\"rRbBuUfF \n")
                return squash(inner.strip().split("\n", 1)[0], MAX_DOC)
    holder = node.parent if node.parent is not None and node.parent.type in WRAPPERS else node
    prev = holder.prev_named_sibling
    if (
        prev is not None
        and prev.type in COMMENTS
        and prev.end_point[0] >= holder.start_point[0] - 1
    ):
        lines = [
            ln.strip().lstrip("/*#!").removesuffix("*/").strip() for ln in _text(prev).split("\n")
        ]
        first = next((ln for ln in lines if ln), "")
        return squash(first, MAX_DOC)
    return ""


def _name(node: Node) -> str:
    name = function_name(node)
    if not name and node.type == "type_spec":
        name = _text(node.child_by_field_name("name"))
    return name.split("(", 1)[0].strip()


def _assigned(node: Node) -> list[tuple[str, Node]]:
    """Module-level constant/variable definitions in a statement: (name, statement)."""
    found: list[tuple[str, Node]] = []
    if node.type == "expression_statement" and node.named_child_count == 1:
        inner = node.named_children[0]
        if inner.type == "assignment":
            left = inner.child_by_field_name("left")
            if left is not None and left.type == "identifier":
                found.append((_text(left), node))
    elif node.type in ("lexical_declaration", "variable_declaration"):
        for child in node.named_children:
            if child.type == "variable_declarator":
                name = child.child_by_field_name("name")
                if name is not None and name.type == "identifier":
                    found.append((_text(name), node))
    elif node.type in ("const_declaration", "var_declaration"):  # go
        for spec in node.named_children:
            for name in spec.children_by_field_name("name"):
                found.append((_text(name), node))
    elif node.type == "preproc_def":  # c / c++ #define
        found.append((_text(node.child_by_field_name("name")), node))
    return found


def _walk(node: Node, source: bytes, parent: str, out: list[Symbol], in_class: bool) -> None:
    for child in node.named_children:
        kind = DEFINITIONS.get(child.type)
        if kind == "class" or (kind == "type" and child.child_by_field_name("body") is not None):
            name = _name(child)
            if name:
                out.append(_symbol(child, source, name, kind, parent))
                body = child.child_by_field_name("body")
                if body is not None:
                    _walk(body, source, name, out, True)
            continue
        if child.type == "impl_item":  # rust: methods belong to the implemented type
            target = _text(child.child_by_field_name("type"))
            body = child.child_by_field_name("body")
            if body is not None:
                _walk(body, source, target, out, True)
            continue
        if kind is not None:
            name = _name(child)
            if name and _IDENT.match(name):
                if kind == "function" and in_class:
                    kind = "method"
                out.append(_symbol(child, source, name, kind, parent))
            continue
        if child.type in CONTAINERS and (child.type != "block" or in_class):
            _walk(child, source, parent, out, in_class)
            continue
        if not in_class:
            for name, statement in _assigned(child):
                if name and _IDENT.match(name):
                    kind = "constant" if name.isupper() else "variable"
                    out.append(_symbol(statement, source, name, kind, parent, statement=True))


def _symbol(
    node: Node, source: bytes, name: str, kind: str, parent: str, statement: bool = False
) -> Symbol:
    signature = squash(_text(node), 160) if statement else _signature(node, source)
    doc = "" if statement else _doc(node)
    return Symbol(name, kind, signature, doc, node.start_point[0], node.end_point[0], parent)


@functools.cache
def _import_query(language: str, types: tuple[str, ...]) -> Query | None:
    grammar = languages.language(language)
    if grammar is None:
        return None
    return Query(grammar, "[" + " ".join(f"({t})" for t in types) + "] @import")


def _import_nodes(root: Node, language: str, types: tuple[str, ...]) -> list[Node]:
    """Import statements at any depth: inside functions (to break import cycles) and under
    ``if TYPE_CHECKING:`` too, where real projects put many of theirs. A tree-sitter query:
    walking the whole tree in Python cost ~10 ms on a large file."""
    query = _import_query(language, types)
    if query is None:
        return []
    found = QueryCursor(query).captures(root).get("import", [])
    return sorted(found, key=lambda node: node.start_byte)


def _python_imports(root: Node) -> list[Import]:
    found: list[Import] = []
    for node in _import_nodes(root, "python", ("import_statement", "import_from_statement")):
        if node.type == "import_statement":
            for child in node.named_children:
                if child.type == "aliased_import":
                    module = _text(child.child_by_field_name("name"))
                    found.append(Import(_text(child.child_by_field_name("alias")), module))
                elif child.type == "dotted_name":
                    module = _text(child)
                    found.append(Import(module.split(".")[0], module.split(".")[0]))
                    if "." in module:
                        found.append(Import(module, module))
        elif node.type == "import_from_statement":
            module_node = node.child_by_field_name("module_name")
            module = _text(module_node)
            for child in node.children_by_field_name("name"):
                if child.type == "aliased_import":
                    name = _text(child.child_by_field_name("name"))
                    local = _text(child.child_by_field_name("alias"))
                else:
                    name = local = _text(child)
                found.append(Import(local, module, name))
    return found


def _js_imports(root: Node, language: str) -> list[Import]:
    found: list[Import] = []
    for node in _import_nodes(root, language, ("import_statement",)):
        source = _text(node.child_by_field_name("source")).strip("'\"`")
        for clause in node.named_children:
            if clause.type != "import_clause":
                continue
            for part in clause.named_children:
                if part.type == "identifier":  # default import
                    found.append(Import(_text(part), source, "default"))
                elif part.type == "namespace_import":
                    ident = next((c for c in part.named_children if c.type == "identifier"), None)
                    found.append(Import(_text(ident), source))
                elif part.type == "named_imports":
                    for spec in part.named_children:
                        name = _text(spec.child_by_field_name("name"))
                        alias = _text(spec.child_by_field_name("alias")) or name
                        found.append(Import(alias, source, name))
    return found


def extract(text: str, language: str, tree: Tree | None = None) -> FileSymbols:
    """The file's definitions and imports (empty for a language without a grammar);
    ``tree``: the text's tree when the caller has it (an open document's, see
    ``syntax.incremental``)."""
    if tree is None:
        tree = syntax.parse(language, text) if language else None
    if tree is None:
        return FileSymbols((), ())
    source = text.encode("utf-8")
    symbols: list[Symbol] = []
    _walk(tree.root_node, source, "", symbols, False)
    if language == "python":
        imports = _python_imports(tree.root_node)
    elif language in ("javascript", "typescript", "tsx"):
        imports = _js_imports(tree.root_node, language)
    else:
        imports = []
    return FileSymbols(tuple(symbols), tuple(i for i in imports if i.local))
