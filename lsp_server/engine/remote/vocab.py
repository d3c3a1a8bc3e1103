"""Token handles for engines that take the prompt as text (all remote engines).

The pipeline budgets and builds prompts in token ids; a remote engine's weights are elsewhere.
So a remote engine's "ids" are handles of text pieces: ``render`` joins them back into the
prompt text that is sent, and the budget counts pieces. How text is cut into pieces decides how
exact the budgets are, best first:
- ``vocab``: a local GGUF of the same model loaded vocab-only (exact, offline, fast);
- ``server``: the engine's own tokenize endpoint with pieces (llama-server; exact, one HTTP
  round trip per new line of text, cached);
- ``estimate``: a GPT-2-style split, long words cut every 7 characters (within +15% / -0.4% of
  Qwen2.5-Coder's real counts on 90% of this repository's source files).

A document can never inject control tokens: spellings of the model's special tokens are
removed from document text (``special=False``); only prompt templates put them in.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Callable

WORD_PIECE = 7
# GPT-2-style pre-tokenization: a word with its leading space, digits in threes, punctuation
# runs, whitespace runs; words longer than WORD_PIECE count as several pieces.
_PIECES = re.compile(r" ?[^\W\d]+| ?\d{1,3}| ?[^\w\s]+|\s+(?!\S)|\s+")

Splitter = Callable[[str], list[str]]


def estimate_pieces(text: str) -> list[str]:
    """Measured against Qwen2.5-Coder's tokenizer on this repository's Python, TypeScript and
    Lua: 1.06x its token count overall (0.996x-1.15x for 90% of files): budgets err on the
    safe side."""
    out: list[str] = []
    for match in _PIECES.finditer(text):
        piece = match.group()
        core = piece.lstrip(" ")
        if (
            len(core) > WORD_PIECE
            and not core[0].isdigit()
            and (core[0].isalnum() or core[0] == "_")
        ):
            cut = len(piece) - len(core) + WORD_PIECE
            out.append(piece[:cut])
            out.extend(piece[i : i + WORD_PIECE] for i in range(cut, len(piece), WORD_PIECE))
        else:
            out.append(piece)
    return out


def gguf_splitter(path: str) -> Splitter:
    """Pieces from a local GGUF's own tokenizer (the file loaded vocab-only: no weights)."""
    import llama_cpp

    llm = llama_cpp.Llama(model_path=path, vocab_only=True, verbose=False)

    def split(text: str) -> list[str]:
        ids = llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)
        pieces: list[str] = []
        pending = b""
        for token in ids:
            pending += llm.detokenize([token])
            try:
                pieces.append(pending.decode("utf-8"))
                pending = b""
            except UnicodeDecodeError:
                continue  # a character split across byte-level tokens: join with the next
        if pending:
            pieces.append(pending.decode("utf-8", errors="replace"))
        return pieces

    return split


class TextVocab:
    """Interned text pieces; ids are indices. Thread-safe."""

    def __init__(self, splitter: Splitter, specials: tuple[str, ...]) -> None:
        self._split = functools.lru_cache(maxsize=16384)(lambda text: tuple(splitter(text)))
        self._pieces: list[str] = []
        self._index: dict[str, int] = {}
        self._lock = threading.Lock()
        self._specials = tuple(sorted({s for s in specials if s}, key=len, reverse=True))
        self.special_ids = {s: self._intern(s, special=True) for s in self._specials}
        self._special_set = frozenset(self.special_ids.values())
        self._special_re = (
            re.compile("|".join(re.escape(s) for s in self._specials)) if self._specials else None
        )

    def _intern(self, piece: str, special: bool = False) -> int:
        key = ("\0special\0" + piece) if special else piece
        with self._lock:
            found = self._index.get(key)
            if found is None:
                found = len(self._pieces)
                self._pieces.append(piece)
                self._index[key] = found
            return found

    def tokenize(self, text: str, special: bool = False) -> list[int]:
        if not text:
            return []
        if self._special_re is None:
            return [self._intern(p) for p in self._split(text)]
        if not special:  # document text: control-token spellings are dropped
            return [self._intern(p) for p in self._split(self._special_re.sub("", text))]
        ids: list[int] = []
        last = 0
        for match in self._special_re.finditer(text):
            ids += [self._intern(p) for p in self._split(text[last : match.start()])]
            ids.append(self.special_ids[match.group()])
            last = match.end()
        ids += [self._intern(p) for p in self._split(text[last:])]
        return ids

    def detokenize(self, ids: list[int], special: bool = False) -> str:
        with self._lock:
            pieces = self._pieces
            return "".join(
                pieces[i]
                for i in ids
                if 0 <= i < len(pieces) and (special or i not in self._special_set)
            )

    def render(self, ids: list[int]) -> str:
        """The prompt text that is sent: control tokens spelled out."""
        return self.detokenize(ids, special=True)
