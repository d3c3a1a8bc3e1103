"""Line-infill repair candidates: the FIM model rewrites one line of the function at a time.

A small instruct model asked to "fix the bug" mostly returns the function unchanged; the same
model used as a fill-in-the-middle coder, with one line of the function blanked out and the
docstring (and its examples) above, writes what that line should be. Each rewritten line that
differs from the original is a candidate, and only the docstring examples decide which one, if
any, is a fix (the idea of AlphaRepair: regenerate suspicious code with the code model and
validate). Used only when the function has runnable examples: without them there is no way to
tell which rewritten line is right.
"""

from __future__ import annotations

import ast
import dataclasses
import textwrap
from collections.abc import Iterator

from lsp_server.completion import Completer
from lsp_server.context.types import Snapshot
from lsp_server.engine.base import CancelToken, Engine
from lsp_server.fix.function import FunctionSpan
from lsp_server.settings import Settings

# A repaired line is short: do not let a multi-line answer run on.
MAX_TOKENS = 48


def body_lines(function: FunctionSpan) -> list[int]:
    """Indexes (in ``function.text``'s lines) of the lines worth rewriting: statements of the
    body, not the signature, the docstring, blank lines or comments."""
    lines = function.text.split("\n")
    try:
        tree = ast.parse(textwrap.dedent(function.text))
    except SyntaxError:
        return []
    node = tree.body[0] if tree.body else None
    if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) or not node.body:
        return []
    skip: set[int] = set()
    first = node.body[0]
    value = first.value if isinstance(first, ast.Expr) else None
    if isinstance(value, ast.Constant) and isinstance(value.value, str):
        skip.update(range(first.lineno - 1, first.end_lineno or first.lineno))
    start = first.lineno - 1
    return [
        i
        for i in range(start, len(lines))
        if i not in skip and lines[i].strip() and not lines[i].lstrip().startswith("#")
    ]


def line_candidates(
    engine: Engine,
    settings: Settings,
    document: str,
    function: FunctionSpan,
    language: str,
    cancel: CancelToken,
) -> Iterator[str]:
    """Candidate versions of the function, each with one line rewritten by the FIM model
    (lazily: the caller stops when a candidate verifies or its budget is spent)."""
    # No per-keystroke time cap (maxTimeMs): on a busy machine it cut the rewrites short and
    # the search settled on a worse line; the fix's own budget (fixBudgetMs) bounds the search.
    quiet = dataclasses.replace(settings, max_tokens=MAX_TOKENS, prefetch=False, max_time_ms=0)
    completer = Completer(engine)
    lines = function.text.split("\n")
    doc_lines = document.split("\n")
    seen: set[str] = set()
    for i in body_lines(function):
        original = lines[i]
        indent = original[: len(original) - len(original.lstrip())]
        row = function.start_line + i
        masked = [*doc_lines[:row], indent, *doc_lines[row + 1 :]]
        offset = sum(len(line) + 1 for line in doc_lines[:row]) + len(indent)
        cancel.check()
        snapshot = Snapshot("\n".join(masked), offset, language)
        result = completer.complete(snapshot, cancel, quiet)
        new = result.text.split("\n", 1)[0].rstrip()
        if not new.strip() or new.strip() == original.strip():
            continue
        candidate = "\n".join([*lines[:i], indent + new.lstrip(), *lines[i + 1 :]])
        if candidate not in seen:
            seen.add(candidate)
            yield candidate
