"""Cut answers that would make the code below the cursor unreachable.

The small model's most common wrong guess on an empty line near the top of a function is to
"finish" it at once: ``return max_depth`` where the user is about to write ``max_depth = 0``,
with the loop that computes it still standing below. An answer that ends in ``return``,
``raise``/``throw``, ``break`` or ``continue`` at the same depth as the next line of code below
it turns that code dead: it cannot be what the user is writing. A longer answer loses that last
statement (its first lines, ``max_depth = 0``, may well be right); an answer that is nothing but
the terminator is dropped, and the completion stage decodes again with its first token
forbidden (``completion.Completer``).

Conservative: only when the cursor's line has nothing right of it, the answer's last line is a
terminator, and the next code line below (comments skipped) sits at exactly that depth and does
not continue the statement (``else``, ``except``, ``case``, a closing bracket ...). In Python a
deeper line counts too: the body of the block header the user was about to write
(``for s in strings:``), which a ``return`` in its place leaves dangling.
"""

from __future__ import annotations

import re

from lsp_server.context.types import Context
from lsp_server.postprocess._filter import Filter
from lsp_server.postprocess._lines import (
    bracket_net,
    indent_width,
    is_blank,
    is_closing_line,
    suffix_lines_after_cursor,
)

_TERMINATOR = re.compile(r"(?:return|raise|throw|break|continue)\b")
# Lines that continue the construct a terminator ends a branch of, rather than following it.
_CONTINUES = re.compile(
    r"(?:else|elif|except|finally|catch|case|default|when|elsif|until)\b|[)\]}]"
)
_COMMENT = re.compile(r"(?:#|//|/\*|\*/|\*\s|\*$|--)")


def _last_line(lines: list[str], ctx: Context) -> tuple[int, str] | None:
    """(index, text as it will stand in the document) of the answer's last non-blank line."""
    for i in range(len(lines) - 1, -1, -1):
        line = ctx.line_prefix + lines[i] if i == 0 else lines[i]
        if not is_blank(line):
            return i, line
    return None


def _next_code_line(suffix: str) -> str | None:
    for line in suffix_lines_after_cursor(suffix):
        if is_blank(line) or _COMMENT.match(line.strip()):
            continue
        return line
    return None


def _kills(last: str, below: str | None, ctx: Context) -> bool:
    if not _TERMINATOR.match(last.strip()):
        return False
    if below is None or is_closing_line(below) or _CONTINUES.match(below.strip()):
        return False
    if _TERMINATOR.match(below.strip()):
        return False  # already dead code below (`return y` then `break`): nothing changes
    if ctx.language == "python" and bracket_net(last, "python") == 0:
        # Deeper is no better: a block body below a return (its header is what the user is
        # writing) is an indentation error besides.
        return indent_width(below) >= indent_width(last)
    return indent_width(below) == indent_width(last)


def cut(text: str, ctx: Context) -> str:
    """``text`` without the trailing terminators that would kill the code below; "" when the
    answer is nothing but such a terminator."""
    if not is_blank(ctx.line_suffix):
        return text
    below = _next_code_line(ctx.suffix)
    lines = text.split("\n")
    while (found := _last_line(lines, ctx)) is not None and _kills(found[1], below, ctx):
        lines = lines[: found[0]]
    if len(lines) == len(text.split("\n")):
        return text
    return "\n".join(lines).rstrip() if any(not is_blank(x) for x in lines) else ""


def apply(text: str, ctx: Context) -> str:
    return cut(text, ctx)


# A drop: the answer was nothing but a terminator (``return x``) ending the function too soon.
FILTER = Filter(apply, wrong_start=True)
