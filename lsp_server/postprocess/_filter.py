"""What a filter module declares about itself, so the pipeline is built from the filters.

Each filter module ends with ``FILTER = Filter(apply, wrong_start=..., stop=...)``: its cut, the
way the completion stage should read a drop, and (where it can tell from a partial answer) the
point where streaming may stop because the cut is certain. ``pipeline`` lists the ``FILTER``s
in order and derives ``WRONG_START`` and ``should_stop`` from them, so a filter's rules live
next to the code they mirror and a renamed module keeps them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from lsp_server.context.types import Context

Apply = Callable[[str, Context], str]
StopRule = Callable[[str, Context], bool]
StopTexts = Callable[[Context], tuple[str, ...]]


def module_name(fn: Callable[..., object]) -> str:
    """Last part of the name of the module ``fn`` is defined in (``block_scope``)."""
    return fn.__module__.rsplit(".", 1)[-1]


@dataclass(frozen=True)
class Filter:
    """One post-processing step and the rules the rest of the server derives from it.

    ``apply(text, ctx)`` returns the text cut or kept, "" to drop the answer.

    ``wrong_start``: a drop means "the model took a wrong first step" (jumped ahead to a line
    that stands below, ended the function early, wrote a placeholder, started code that cannot
    parse where it stands, left the block or the code altogether for a test tail), so the
    completion stage decodes again with that first token forbidden rather than showing nothing.
    No default: every filter must say, since a silent False would switch re-decoding off.

    ``stop(generated, ctx)``: whether the text streamed so far already shows where ``apply``
    will cut, so the engine can stop generating text that would be thrown away (most of a CPU's
    latency budget). It must only fire when stopping there cannot change the final answer, and
    must stay cheap (it runs after every token). None: the filter cannot tell while streaming.

    ``stop_texts(ctx)``: texts at which ``stop`` fires wherever they appear, so an engine that
    samples on its own side (llama-server, OpenAI, Ollama) can be told to stop there itself:
    it then ends the answer at once and frees its slot, instead of generating until it notices
    the closed connection. None: the filter has no such texts.
    """

    apply: Apply
    wrong_start: bool
    stop: StopRule | None = None
    stop_texts: StopTexts | None = None

    @property
    def name(self) -> str:
        """The defining module's name: golden folders and logs use it, and it cannot drift."""
        return module_name(self.apply)

    def __call__(self, text: str, ctx: Context) -> str:
        return self.apply(text, ctx)
