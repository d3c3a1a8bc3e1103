"""Old function -> new function as minimal whole-line hunks (never a whole-file replace).

A hunk replaces lines [start, end) of the document; ranges run from column 0 of ``start`` to
column 0 of ``end``, which is the same in every position encoding. Only a hunk that reaches the
end of a document without a final newline needs a column: the caller's ``units`` measures it in
the negotiated encoding.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Hunk:
    start_line: int  # document line where the replaced lines start
    end_line: int  # exclusive
    end_character: int  # 0, except at the end of a document without a final newline
    new_text: str


def line_hunks(
    old: str, new: str, first_line: int, units: Callable[[str], int] = len
) -> list[Hunk]:
    """Hunks that turn ``old`` (whole lines starting at document line ``first_line``) into
    ``new``. Applied together (LSP applies a TextEdit list against the original text) they
    give exactly ``new``."""
    old_lines = old.splitlines(keepends=True)
    new_lines = new.splitlines(keepends=True)
    hunks: list[Hunk] = []
    matcher = difflib.SequenceMatcher(a=old_lines, b=new_lines, autojunk=False)
    # ``new`` ends without a newline exactly when ``old`` does (the document's last line), so
    # the hunk reaching the end of an unterminated ``old`` also reaches the end of ``new``.
    unterminated = bool(old_lines) and not old_lines[-1].endswith("\n")
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        end_line, end_character = first_line + i2, 0
        if unterminated and i2 == len(old_lines):
            end_line, end_character = first_line + i2 - 1, units(old_lines[-1])
        hunks.append(Hunk(first_line + i1, end_line, end_character, "".join(new_lines[j1:j2])))
    return hunks


def apply_hunks(document: str, hunks: list[Hunk]) -> str:
    """Apply hunks the way an editor applies a TextEdit list: the reference the tests hold
    ``line_hunks`` to (the B3 benchmark applies the LSP edits it receives with its own code)."""
    lines = document.split("\n")
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line) + 1)

    def offset(line: int, character: int) -> int:
        return min(offsets[min(line, len(lines))] + character, len(document))

    out = document
    for hunk in sorted(hunks, key=lambda h: h.start_line, reverse=True):
        a = offset(hunk.start_line, 0)
        b = offset(hunk.end_line, hunk.end_character)
        out = out[:a] + hunk.new_text + out[b:]
    return out
