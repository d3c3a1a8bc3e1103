"""Recognise where a small instruct model stops writing code and starts chatting or testing.

Shared by the ``chat_tail`` filter and the engine's early-stop check so both agree on where an
answer ends. Qwen2.5-Coder-0.5B-Instruct, asked to fill a function, typically finishes it and
then appends ``# Test cases``, an ``if __name__ == "__main__":`` block, ``print`` calls, a
Markdown fence or an "Explanation:" paragraph; none of that belongs at the cursor.
"""

from __future__ import annotations

import re

from lsp_server.context.types import Context
from lsp_server.postprocess._lines import indent_width, is_blank

# Special-token text that leaked into the output (chat and FIM control tokens of common models).
SPECIAL_TOKEN = re.compile(
    r"<\|[\w.-]{1,40}\|>|<｜[^｜\n]{1,40}｜>|<(?:fim_\w+|file_sep|repo_name)>"
)

_FENCE = re.compile(r"(```|~~~)")
# Comments that announce tests or usage examples (after `#`, `//`, `/*` or `--`).
_TAIL_COMMENT = re.compile(
    r"(?:#+|//+|/\*+|--)\s*(?:"
    r"tests?\s*(?:cases?\b|:|$)|"
    r"test(?:ing)?\s+(?:the|this|our|with|it\b|function|code|implementation|solution)|"
    r"examples?\s*(?:usage|use|of\s+usage|:|$)|usage\s*(?::|$)|sample\s+(?:usage|input|test)|"
    r"check\s+(?:the\s+)?(?:function|solution|correctness|implementation|code|results?)\b|"
    r"driver\s+code|provided\s+(?:test|data)|demo\s*(?::|$)|"
    r"(?:verify|validate)\s+(?:the\s+)?(?:function|solution|implementation)"
    r")",
    re.IGNORECASE,
)
# Prose at column 0: code never starts a line with an English sentence like these.
_PROSE = re.compile(
    r"(?:\*\*|#{1,4}\s+)?Explanation\b|(?:\*\*|#{2,4}\s+)(?:Output|Notes?|Usage|Examples?)\b|"
    r"(?:Here(?:'s| is| are)|This (?:code|function|implementation|solution|program|script|will)|"
    r"The (?:code|function|above|output|implementation)|In this (?:code|example|implementation)|"
    r"I(?:'ve| have)|Let's|Let me|Sure[,!]|Certainly)\b"
)
# Test or demo scaffolding that starts after the requested code (never flagged on the first line,
# where it may be exactly what the user is starting to write).
_SCAFFOLD = re.compile(
    r"if\s+__name__\s*==\s*['\"]__main__['\"]\s*:|"
    r"(?:func|fn)\s+main\s*\(|int\s+main\s*\(|(?:public\s+)?static\s+void\s+main\s*\(|"
    r"#\[cfg\(test\)\]|mod\s+tests\b|unittest\.main\("
)
# A comment standing in for code, the instruct model's habit on an empty function body: an answer
# that starts with one gives the user nothing to accept.
_PLACEHOLDER = re.compile(
    r"(?:#+|//+|/\*+|--)\s*(?:"
    r"(?:TODO|FIXME|XXX)\b|"
    r"(?:your|my)\s+(?:own\s+)?(?:code|implementation|solution|logic)\b|"
    r"(?:write|add|insert|put|implement|complete|fill\s+in)\s+(?:the\s+|your\s+)?"
    r"(?:code|implementation|logic|solution|function|method|body)\b|"
    r"(?:code|implementation|logic)\s+(?:goes\s+)?here\b|"
    r"\.\.\.\s*$"
    r")",
    re.IGNORECASE,
)
# Calls that only make sense as a demo when they follow indented code at the top level.
_TOP_LEVEL_DEMO = re.compile(
    r"(?:print|console\.log|describe|test|it|fmt\.Print\w*|println!)\s*\(|assert\b"
)


def special_token_index(text: str) -> int:
    """Offset of the first leaked special token in ``text``, or -1."""
    match = SPECIAL_TOKEN.search(text)
    return -1 if match is None else match.start()


def is_placeholder(line: str) -> bool:
    """Whether ``line`` is a comment that stands in for code (``# Your code here``)."""
    return _PLACEHOLDER.match(line.strip()) is not None


def first_tail_line(lines: list[str], ctx: Context) -> int | None:
    """Index of the first line of ``lines`` (the answer) where a chat or test tail begins.

    Line 0 counts only when the cursor's line is blank so far (then it is a line start, judged
    with the cursor's indentation in front of it). Tail comments count only at or left of the
    answer's own level, so a comment like ``# test the edge case`` nested deeper survives.
    Scaffolding such as ``if __name__ == ...`` only counts after the first line (there it may be
    exactly what the user starts to write), and top-level demo calls only after body code.
    """
    header = not is_blank(ctx.line_prefix)
    level = indent_width(ctx.line_prefix) if header else None
    seen_indented = header and ctx.line_prefix.rstrip().endswith((":", "{"))
    for i, line in enumerate(lines):
        if i == 0 and header:
            continue  # continues the user's own line: not a line start, never a tail
        full = ctx.line_prefix + line if i == 0 else line
        stripped = full.strip()
        if not stripped:
            continue
        column = indent_width(full)
        if level is None:
            level = column
        if _FENCE.match(stripped) or (column == 0 and _PROSE.match(stripped)):
            return i
        if column <= level and _TAIL_COMMENT.match(stripped):
            return i
        if i > 0 and _SCAFFOLD.match(stripped):
            return i
        if i > 0 and column == 0 and seen_indented and _TOP_LEVEL_DEMO.match(stripped):
            return i
        seen_indented = seen_indented or column > 0
    return None
