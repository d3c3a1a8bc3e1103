"""Plain data passed between pipeline stages (context -> prompt -> engine -> postprocess)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Snippet:
    """A piece of another file shown to the model."""

    path: str  # as the prompt shows it: relative to the workspace folder
    text: str
    kind: str  # "definition" | "similar"


@dataclass(frozen=True)
class Snapshot:
    """The document as it was when the request arrived (``offset`` in Python characters)."""

    text: str
    offset: int
    language: str  # normalised grammar name or ""
    path: str = ""
    anchor: int | None = None  # see context.anchor; None: the cursor's line start


class Mode(enum.Enum):
    """How much text the model may propose at this cursor.

    Decided from the syntax at the cursor, before the model runs, so generation can stop early.
    """

    NONE = "none"  # e.g. the cursor sits inside a word: no suggestion at all
    SINGLE_LINE = "single_line"  # text right of the cursor: finish this line only
    MULTI_LINE = "multi_line"  # empty line inside a block: a block body is welcome


@dataclass(frozen=True)
class Context:
    """What the model sees and what the filters need to judge its answer.

    ``prefix``/``suffix`` are the token-budgeted windows (cut on line boundaries, possibly with
    the file's imports and the enclosing headers kept in front of ``prefix``). They end/start
    exactly at the cursor: ``prefix`` ends with the current line's text left of the cursor and
    ``suffix`` starts with the current line's text right of the cursor.
    """

    prefix: str
    suffix: str
    language: str  # normalised language name ("python", "typescript", ...) or "" when unknown
    mode: Mode = Mode.MULTI_LINE
    path: str = ""  # file path (relative to the workspace folder when the prompt shows it)
    # Cross-file context (``context.retrieval``): snippets of other files, and the name of the
    # repository they come from, for models with a repository-level prompt format.
    extra: tuple[Snippet, ...] = field(default_factory=tuple)
    repo: str = ""
    # How many characters at the end of ``prefix`` (from the anchor to the cursor) the prompt
    # places after the middle marker, as the start of the answer (see ``context.anchor``).
    head: int = 0

    @property
    def above(self) -> str:
        """``prefix`` without its head: what goes between the prefix and suffix markers."""
        return self.prefix[: len(self.prefix) - self.head]

    @property
    def head_text(self) -> str:
        return self.prefix[len(self.prefix) - self.head :]

    @property
    def pending(self) -> str:
        """Trailing spaces/tabs of the head, left out of the prompt (token healing).

        After the middle marker the model continues the head token by token; an indentation
        the user (or auto-indent) already typed would end the prompt in the middle of the
        tokens the model would write itself (Qwen writes ``    return`` as one run of spaces
        plus `` return``), and it answers with a stray space and a broken line. So the prompt
        stops before that whitespace and the model writes it; ``Completer`` takes it off again.
        """
        head = self.head_text
        return head[len(head.rstrip(" \t")) :]

    @property
    def line_prefix(self) -> str:
        """Text of the cursor's line left of the cursor."""
        return self.prefix.rsplit("\n", 1)[-1]

    @property
    def line_suffix(self) -> str:
        """Text of the cursor's line right of the cursor."""
        return self.suffix.split("\n", 1)[0]
