"""Line and bracket helpers shared by the filters (not a filter itself: no ``apply``).

The filters reason about code the way a reader skims it: by indentation and by brackets. Both
are approximated line by line without a parser, because they run on every streamed token
(``should_stop``) and on answers that are often syntactically incomplete.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

TAB_WIDTH = 4

# A line ending in one of these opens a block whose body follows on deeper-indented lines.
# Mirrors the openers the context stage uses to choose multi-line mode.
BLOCK_OPENERS = (":", "{", "(", "[", "=>", "->")

# Languages whose blocks end with a closing brace: there an unmatched `}` ends the block even
# when the model's indentation is off.
BRACE_LANGUAGES = frozenset(
    {"javascript", "typescript", "tsx", "go", "rust", "java", "c", "cpp", "csharp", "kotlin"}
)

_OPEN = "([{"
_CLOSE = ")]}"

# String literals and comments, per language family; brackets inside them do not count.
_DOUBLE = r'"(?:\\.|[^"\\\n])*"'
_SINGLE = r"'(?:\\.|[^'\\\n])*'"
_CHAR = r"'(?:\\.[^'\n]*|[^'\\\n])'"  # a char literal: not a Rust lifetime like `'a`
_BACKTICK = r"`(?:\\.|[^`\\])*`"
_SLASH_COMMENTS = r"/\*.*?\*/|//.*"
_NOISE = {
    "python": re.compile("|".join([_DOUBLE, _SINGLE, r"#.*"])),
    "javascript": re.compile("|".join([_DOUBLE, _SINGLE, _BACKTICK, _SLASH_COMMENTS])),
    "go": re.compile("|".join([_DOUBLE, _CHAR, _BACKTICK, _SLASH_COMMENTS])),
    "c": re.compile("|".join([_DOUBLE, _CHAR, _SLASH_COMMENTS])),
}
_NOISE_FAMILY = {"typescript": "javascript", "tsx": "javascript", "rust": "c", "java": "c"}
_CLOSING_LINE = re.compile(r"[)\]}][)\]};,]*")
_QUOTES = "\"'`"


def indent_width(line: str) -> int:
    """Columns of leading whitespace, tabs expanded, so mixed files compare sensibly."""
    width = 0
    for ch in line:
        if ch == " ":
            width += 1
        elif ch == "\t":
            width += TAB_WIDTH - width % TAB_WIDTH
        else:
            break
    return width


def is_blank(line: str) -> bool:
    return not line.strip()


def drop_trailing_blank_lines(text: str) -> str:
    """Remove whitespace-only lines at the end; a suggestion ending in blank lines looks broken."""
    lines = text.split("\n")
    while len(lines) > 1 and is_blank(lines[-1]):
        lines.pop()
    if len(lines) == 1 and is_blank(lines[0]):
        return ""
    return "\n".join(lines)


def suffix_lines_after_cursor(suffix: str) -> Iterator[str]:
    """Lines of ``suffix`` after the cursor's line, lazily (suffixes may be kilobytes long)."""
    start = suffix.find("\n")
    while start != -1:
        end = suffix.find("\n", start + 1)
        yield suffix[start + 1 :] if end == -1 else suffix[start + 1 : end]
        start = end


def next_nonblank_suffix_line(suffix: str) -> str | None:
    """First non-blank line below the cursor's line, or None at the end of the window."""
    for line in suffix_lines_after_cursor(suffix):
        if not is_blank(line):
            return line
    return None


def last_nonblank_line(text: str) -> str | None:
    """Last non-blank line of ``text``, scanning backwards (prefixes may be kilobytes long)."""
    end = len(text)
    while end > 0:
        start = text.rfind("\n", 0, end) + 1
        line = text[start:end]
        if not is_blank(line):
            return line
        end = start - 1
    return None


def code_only(line: str, language: str) -> str:
    """``line`` with string literals and comments blanked out, same length (positions hold)."""
    pattern = _NOISE.get(_NOISE_FAMILY.get(language, language), _NOISE["c"])
    return pattern.sub(lambda m: " " * len(m.group(0)), line)


def bracket_net(text: str, language: str) -> int:
    """Openers minus closers over ``text``, ignoring strings and comments."""
    net = 0
    for line in text.split("\n"):
        code = code_only(line, language)
        net += sum(code.count(ch) for ch in _OPEN) - sum(code.count(ch) for ch in _CLOSE)
    return net


def imbalance(text: str, language: str) -> int:
    """How far ``text`` is from balanced: unmatched brackets plus unterminated quotes."""
    quotes = 0
    for line in text.split("\n"):
        code = code_only(line, language)
        quotes += sum(code.count(q) for q in _QUOTES)
    return abs(bracket_net(text, language)) + quotes


def first_unmatched_closer(line: str, language: str, depth: int) -> tuple[int, int]:
    """Scan ``line`` from bracket ``depth``: (column of a closer taking depth below 0, new depth).

    The column is -1 when no closer goes unmatched.
    """
    for col, ch in enumerate(code_only(line, language)):
        if ch in _OPEN:
            depth += 1
        elif ch in _CLOSE:
            depth -= 1
            if depth < 0:
                return col, depth
    return -1, depth


def is_closing_line(line: str) -> bool:
    """A line made only of closing brackets and separators: `}`, `});`, `],`."""
    return _CLOSING_LINE.fullmatch(line.strip()) is not None


def opens_block(line: str, language: str) -> bool:
    """Whether ``line`` (comments ignored) ends with a block opener like `:` or `{`."""
    return code_only(line, language).rstrip().endswith(BLOCK_OPENERS)
