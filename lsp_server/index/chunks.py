"""Files cut into overlapping line windows, compared by the identifiers they use.

The similarity search of the repository context (what llama.vim, Continue and RepoCoder do with
their chunk rings): the lines above the cursor are compared with windows of recently opened and
edited files by the Jaccard index of their identifier sets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

CHUNK_LINES = 16
CHUNK_STRIDE = 8
MIN_LINES = 3  # windows with fewer non-blank lines are not worth a prompt's tokens
_IDENT = re.compile(r"[A-Za-z_$][\w$]*")
# Words every language repeats: they say nothing about which code is similar.
_COMMON_WORDS = """
and as assert async await break case catch class const continue def default del do elif
else enum except export extends false final finally fn for from func function go if impl
import in interface is let match mod mut new nil none not null or package pass pub raise
return self static struct super switch this throw true try type typeof use var void while
with yield int str bool float string len range print None True False
"""
COMMON = frozenset(_COMMON_WORDS.split())


def identifiers(text: str) -> frozenset[str]:
    return frozenset(w for w in _IDENT.findall(text) if len(w) > 1 and w not in COMMON)


@dataclass(frozen=True)
class Chunk:
    start_line: int
    end_line: int  # exclusive
    text: str
    idents: frozenset[str]


def chunk(text: str, size: int = CHUNK_LINES, stride: int = CHUNK_STRIDE) -> list[Chunk]:
    lines = text.split("\n")
    out: list[Chunk] = []
    for start in range(0, max(1, len(lines) - size + stride), stride):
        window = lines[start : start + size]
        if sum(1 for line in window if line.strip()) < MIN_LINES:
            continue
        body = "\n".join(window)
        out.append(Chunk(start, start + len(window), body, identifiers(body)))
    return out


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)
