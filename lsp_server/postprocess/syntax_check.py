"""Reject answers that make the document's syntax worse, or trim them until they do not.

The prefix/suffix windows are rarely valid on their own (cut mid-function, the user is still
typing), so "parses cleanly" is the wrong test. The answer is judged by what it adds: the
error count of ``prefix + answer + suffix`` against that of ``prefix + suffix``. A multi-line
answer that adds errors is cut back line by line from the end (an unfinished last statement is
the usual culprit) and the longest start that adds none is kept.

Each candidate is an incremental reparse of the window tree (the answer inserted at the cursor
as a tree edit), several times cheaper than parsing the whole window again.
"""

from __future__ import annotations

from tree_sitter import Parser, Tree

from lsp_server.context.types import Context
from lsp_server.postprocess._filter import Filter
from lsp_server.postprocess._lines import drop_trailing_blank_lines, opens_block
from lsp_server.syntax.languages import parser as make_parser
from lsp_server.syntax.tree import error_count

# Reparses spent trimming a multi-line answer, so a long broken answer costs bounded time.
MAX_TRIMS = 10


class _Window:
    """The context window parsed once; answers are judged by inserting them at the cursor."""

    def __init__(self, parser: Parser, prefix: str, suffix: str) -> None:
        self._parser = parser
        self._prefix = prefix.encode("utf-8")
        self._suffix = suffix.encode("utf-8")
        self._tree: Tree = parser.parse(self._prefix + self._suffix)
        self.errors = error_count(self._tree)
        row = prefix.count("\n")
        self._point = (row, len(self._prefix) - (self._prefix.rfind(b"\n") + 1))

    def errors_with(self, answer: str) -> int:
        data = answer.encode("utf-8")
        rows = data.count(b"\n")
        column = len(data) - (data.rfind(b"\n") + 1) if rows else self._point[1] + len(data)
        tree = self._tree.copy()
        start = len(self._prefix)
        tree.edit(
            start_byte=start,
            old_end_byte=start,
            new_end_byte=start + len(data),
            start_point=self._point,
            old_end_point=self._point,
            new_end_point=(self._point[0] + rows, column),
        )
        return error_count(self._parser.parse(self._prefix + data + self._suffix, tree))

    def adds_errors(self, answer: str) -> bool:
        return self.errors_with(answer) > self.errors


def _longest_clean_start(text: str, window: _Window, language: str) -> str:
    """Longest answer made of the first lines of ``text`` that adds no errors, or "".

    A cut that leaves a block header last (``if b:``, ``for (...) {``) is skipped: some
    grammars accept an empty body without an error, but nobody wants that suggestion.
    """
    lines = text.split("\n")
    tried = 0
    previous = text
    for keep in range(len(lines) - 1, 0, -1):
        candidate = drop_trailing_blank_lines("\n".join(lines[:keep]))
        if not candidate.strip() or tried >= MAX_TRIMS:
            break
        if candidate == previous or opens_block(candidate.rsplit("\n", 1)[-1], language):
            continue
        previous = candidate
        tried += 1
        if not window.adds_errors(candidate):
            return candidate
    return ""


def apply(text: str, ctx: Context) -> str:
    parser = make_parser(ctx.language) if ctx.language else None
    if parser is None:
        return text  # no grammar: nothing to judge by
    window = _Window(parser, ctx.prefix, ctx.suffix)
    if not window.adds_errors(text):
        return text
    return _longest_clean_start(text, window, ctx.language)


# A drop: the answer starts code that cannot parse where it stands (19 of the 39 empty answers
# on B1's full set with the 0.5B); another first token often parses.
FILTER = Filter(apply, wrong_start=True)
