"""The post-processing pipeline: raw model text + Context -> text to insert ("" = nothing).

One filter per module, run in the order of ``FILTERS``; the first filter that returns "" ends
the run. Each module declares its own rules in its ``FILTER`` (``_filter.Filter``): whether a
drop is a wrong start worth a re-decode, and, where it can tell from a partial answer, its
streaming stop rule. ``WRONG_START`` and ``should_stop`` are built here from ``FILTERS``, so a
rule is written once, next to the cut it mirrors, and a renamed filter keeps it.
"""

from __future__ import annotations

import logging

from lsp_server.context.types import Context
from lsp_server.postprocess import (
    block_scope,
    chat_tail,
    dead_suffix,
    empty,
    indentation,
    placeholder,
    repetition,
    single_line,
    suffix_overlap,
    suffix_repeat,
    syntax_check,
    trailing_comment,
    trim_space,
)
from lsp_server.postprocess._filter import Apply, Filter, StopRule, StopTexts, module_name

log = logging.getLogger(__name__)

# Order matters:
# - chat_tail first: markers and leaked special tokens can sit on any line, even the first.
# - single_line / trim_space / indentation shape the cursor's line before anything compares it
#   with the document (indentation before block_scope: a doubled indentation would otherwise
#   be measured as the block's depth).
# - block_scope, then repetition: the answer is cut to the cursor's block before looking for
#   loops, so a loop in the next function does not count.
# - trailing_comment before the comparisons with the document: `m = l[0]  # the maximum` is
#   judged as the `m = l[0]` it becomes.
# - suffix_overlap before suffix_repeat: an answer "body + the return line below" must lose its
#   duplicate tail, not be dropped whole; what is left is then checked for a pure repeat.
# - dead_suffix after the cuts: it judges the answer's last line as it will be inserted.
# - empty before syntax_check: the tree-sitter reparses are the only costly step, run last on
#   what survived.
FILTERS: list[Filter] = [
    chat_tail.FILTER,
    placeholder.FILTER,
    single_line.FILTER,
    trim_space.FILTER,
    indentation.FILTER,
    block_scope.FILTER,
    repetition.FILTER,
    trailing_comment.FILTER,
    suffix_overlap.FILTER,
    suffix_repeat.FILTER,
    dead_suffix.FILTER,
    empty.FILTER,
    syntax_check.FILTER,
]


def filter_name(fn: Filter | Apply) -> str:
    """The filter's module name (``block_scope``), as used by golden cases and logs."""
    return fn.name if isinstance(fn, Filter) else module_name(fn)


# Filters whose drop means "the model took a wrong first step": the completion stage decodes
# again with that first token forbidden (each module's ``FILTER`` says why it is or is not one).
WRONG_START = frozenset(f.name for f in FILTERS if f.wrong_start)

# The streaming stop rules of the filters that have one, in pipeline order.
STOP_RULES: tuple[StopRule, ...] = tuple(f.stop for f in FILTERS if f.stop is not None)
STOP_TEXTS: tuple[StopTexts, ...] = tuple(f.stop_texts for f in FILTERS if f.stop_texts)


def postprocess(raw: str, ctx: Context) -> str:
    """Final insert text for the model's ``raw`` answer, or "" when it should not be shown."""
    return run_filters(raw, ctx)[0]


def run_filters(raw: str, ctx: Context) -> tuple[str, str | None]:
    """``postprocess``, also naming the filter that dropped the answer (None: kept)."""
    text = raw.replace("\r\n", "\n")
    for step in FILTERS:
        name = filter_name(step)
        try:
            text = step(text, ctx)
        except Exception:  # a filter bug must cost one suggestion, never the server
            log.exception("postprocess filter %s failed; suggestion dropped", name)
            return "", name
        if not text:
            log.info("suggestion dropped by %s", name)
            return "", name
    return text, None


def should_stop(generated: str, ctx: Context) -> bool:
    """Whether ``generated`` (the text streamed so far) already holds the whole answer.

    True as soon as one filter's ``stop`` sees that its cut is certain (chat_tail: a leaked
    special token or a completed tail line; single_line: a newline; block_scope: a line leaving
    the block; repetition: a line loop), so the model stops generating text that would be
    thrown away (most of a CPU's latency budget). Linear in ``len(generated)``.
    """
    return any(stop(generated, ctx) for stop in STOP_RULES)


def stop_texts(ctx: Context) -> tuple[str, ...]:
    """Texts that end the answer wherever they appear (``should_stop`` fires at them), for an
    engine that samples on its own side to stop at by itself."""
    return tuple(text for texts in STOP_TEXTS for text in texts(ctx))
