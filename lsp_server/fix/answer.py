"""A chat model's reply -> the replacement function, or the reason it is rejected.

Small instruct models wrap code in fences (or not), add imports, explanations and test code
around it, drift in indentation, rename things. What is kept is exactly one function: the one
with the original name, re-indented to where the original stands. Everything else of the reply
is ignored; a reply without that function, one that does not parse in place, or an empty one is
rejected with a reason the retry prompt (and the user) can read.
"""

from __future__ import annotations

import ast
import re
import textwrap
from dataclasses import dataclass

from lsp_server.fix.function import FunctionSpan, functions_in, header_text
from lsp_server.syntax import tree as syntax
from lsp_server.syntax.tree import function_name

_FENCE = re.compile(r"```[^\n`]*\n(.*?)(?:```|\Z)", re.S)


class Rejected(ValueError):
    """The reply cannot become an edit; the message says why."""


@dataclass(frozen=True)
class Candidate:
    text: str  # the new function, whole lines, indented like the original
    same: bool  # equal to the original (nothing to change)


def code_blocks(reply: str) -> list[str]:
    """Fenced blocks of the reply (an unclosed last fence counts: the answer was cut), or the
    whole reply when it has no fence."""
    blocks = [m.group(1) for m in _FENCE.finditer(reply)]
    return blocks or [reply]


def _pick(reply: str, language: str, name: str):
    """(function node, its block's source lines) of the first function called ``name``."""
    for block in code_blocks(reply):
        tree = syntax.parse(language, block)
        if tree is None:
            continue
        for node in functions_in(tree.root_node):
            if function_name(node) == name:
                return node, block.split("\n")
    return None, None


def _reindent(lines: list[str], indent: str) -> list[str]:
    body = textwrap.dedent("\n".join(lines)).split("\n")
    return [indent + line if line.strip() else "" for line in body]


def _normal(text: str) -> list[str]:
    return [line.rstrip() for line in text.strip("\n").split("\n")]


def extract(
    reply: str,
    function: FunctionSpan,
    language: str,
    document: str,
    *,
    keep_signature: bool = True,
) -> Candidate:
    """The function the reply proposes, validated against the document it goes into."""
    if not reply.strip():
        raise Rejected("the answer is empty")
    node, lines = _pick(reply, language, function.name)
    if node is None or lines is None:
        raise Rejected(f"the answer does not contain the function `{function.name}`")
    if node.has_error:
        raise Rejected("the answer does not parse")
    if keep_signature and header_text(node) != function.header:
        raise Rejected(f"the answer changes the signature of `{function.name}`")
    first, last = node.start_point[0], node.end_point[0]
    own = lines[first : last + 1]
    own[0] = " " * node.start_point[1] + own[0][node.start_point[1] :]  # text before it on line
    new_lines = _reindent(own, function.indent)
    text = "\n".join(new_lines) + "\n"
    if language == "python" and keep_signature:
        text = keep_docstring(function.text, text)
    if not function.text.endswith("\n"):
        text = text[:-1]
    if _normal(text) == _normal(function.text):
        return Candidate(function.text, same=True)
    check_in_place(document, function, text, language)
    return Candidate(text, same=False)


def _docstring_lines(source: str) -> tuple[int, int, int] | None:
    """(first line of the body, docstring start, docstring end) as 0-based line indexes of a
    Python function's source; docstring start == end when it has none. None if unparsable."""
    try:
        tree = ast.parse(textwrap.dedent(source))
    except SyntaxError:
        return None
    node = tree.body[0] if tree.body else None
    if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) or not node.body:
        return None
    first = node.body[0]
    start = first.lineno - 1
    value = first.value if isinstance(first, ast.Expr) else None
    if isinstance(value, ast.Constant) and isinstance(value.value, str):
        return start, start, (first.end_lineno or first.lineno)
    return start, start, start


def keep_docstring(original: str, candidate: str) -> str:
    """The candidate with the original's docstring: small models drop or shorten docstrings
    when they rewrite a function, and a bug fix must not delete the user's documentation."""
    old, new = _docstring_lines(original), _docstring_lines(candidate)
    if old is None or new is None or old[1] == old[2]:
        return candidate
    doc = original.split("\n")[old[1] : old[2]]
    lines = candidate.split("\n")
    merged = "\n".join(lines[: new[1]] + doc + lines[new[2] :])
    return merged if _docstring_lines(merged) is not None else candidate


def replace_function(document: str, function: FunctionSpan, new_text: str) -> str:
    lines = document.split("\n")
    before = "".join(line + "\n" for line in lines[: function.start_line])
    after_lines = lines[function.end_line :]
    after = "\n".join(after_lines) if after_lines else ""
    return before + new_text + after


def check_in_place(document: str, function: FunctionSpan, new_text: str, language: str) -> None:
    """Reject a function that adds syntax errors to the document it goes into."""
    new_document = replace_function(document, function, new_text)
    before = syntax.syntax_errors(language, document) or 0
    after = syntax.syntax_errors(language, new_document)
    if after is not None and after > before:
        raise Rejected("the answer does not parse")
    if language == "python" and _python_compiles(document) and not _python_compiles(new_document):
        raise Rejected("the answer does not parse (Python compile)")
    if language == "python" and unreachable_lines(new_text) > unreachable_lines(function.text):
        # e.g. `return sum(numbers)` put above the loop: passes the examples, leaves dead code
        raise Rejected("the answer leaves code after a return that can never run")


def unreachable_lines(source: str) -> int:
    """Statements that follow a return/raise/break/continue in the same block (Python)."""
    try:
        tree = ast.parse(textwrap.dedent(source))
    except SyntaxError:
        return 0
    dead = 0
    for node in ast.walk(tree):
        for field in ("body", "orelse", "finalbody"):
            block = getattr(node, field, None)
            if not isinstance(block, list):
                continue
            for i, statement in enumerate(block[:-1]):
                if isinstance(statement, ast.Return | ast.Raise | ast.Break | ast.Continue):
                    dead += len(block) - i - 1
                    break
    return dead


def _python_compiles(source: str) -> bool:
    try:
        compile(source, "<fix>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return False
    return True
