"""Cut the loops a small model falls into: one line or one block of lines over and over.

Greedy decoding of a 0.5B model often ends in a loop (``x = x + 1`` again and again, or the
same three-line block) that only stops at the token cap. The first copy may be fine; the
repeats never are. A single line counts as a loop from its third consecutive copy; a block of
2+ lines from its third copy, or from its second when the repeats run to the end of the answer
(the token cap cut the loop, usually mid-copy).
"""

from __future__ import annotations

from lsp_server.context.types import Context
from lsp_server.postprocess._filter import Filter
from lsp_server.postprocess._lines import drop_trailing_blank_lines, is_blank

MIN_LINE_RUN = 3
MAX_BLOCK_LINES = 8


def _line_loop(lines: list[str]) -> int | None:
    """Index just after the first copy of a line repeated MIN_LINE_RUN+ times in a row."""
    run_start = 0
    for i in range(1, len(lines) + 1):
        if i < len(lines) and lines[i] == lines[run_start]:
            continue
        if i - run_start >= MIN_LINE_RUN and not is_blank(lines[run_start]):
            return run_start + 1
        run_start = i
    return None


def _tail_is_partial_copy(rest: list[str], block: list[str]) -> bool:
    """Whether ``rest`` is the beginning of ``block`` (its last line possibly cut mid-line)."""
    if len(rest) > len(block):
        return False
    if not rest:
        return True
    return rest[:-1] == block[: len(rest) - 1] and block[len(rest) - 1].startswith(rest[-1])


def _block_loop(lines: list[str]) -> int | None:
    """Index just after the first copy of a repeating block of 2..MAX_BLOCK_LINES lines."""
    n = len(lines)
    for start in range(n):
        for size in range(2, min(MAX_BLOCK_LINES, (n - start) // 2) + 1):
            block = lines[start : start + size]
            if sum(not is_blank(line) for line in block) < 1:
                continue
            copies = 1
            while lines[start + copies * size : start + (copies + 1) * size] == block:
                copies += 1
            rest = lines[start + copies * size :]
            if copies >= 3 or (copies == 2 and _tail_is_partial_copy(rest, block)):
                return start + size
    return None


def apply(text: str, ctx: Context) -> str:
    # Line 0 is compared as the user will see it: after the text left of the cursor.
    lines = [line.rstrip() for line in (ctx.line_prefix + text).split("\n")]
    cuts = [cut for cut in (_line_loop(lines), _block_loop(lines)) if cut is not None]
    if not cuts:
        return text
    kept = text.split("\n")[: min(cuts)]
    return drop_trailing_blank_lines("\n".join(kept))


def stop(generated: str, ctx: Context) -> bool:
    """Once the last MIN_LINE_RUN completed lines are copies of one non-blank line: ``apply``
    keeps the first copy, so what follows is lost anyway. Block loops are left to ``apply``
    (the token cap ends them); only the cheap single-line check runs per token."""
    done = generated.split("\n")[:-1]
    if len(done) < MIN_LINE_RUN or is_blank(done[-1]):
        return False
    run = done[-MIN_LINE_RUN:]
    if len(done) == MIN_LINE_RUN:
        run[0] = ctx.line_prefix + run[0]  # line 0 as the user sees it, as in ``apply``
    return len({line.rstrip() for line in run}) == 1


# Its cut keeps the loop's first copy: what is left was the model's start, not a wrong one.
FILTER = Filter(apply, wrong_start=False, stop=stop)
