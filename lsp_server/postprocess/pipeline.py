"""The post-processing pipeline: raw model text + Context -> text to insert ("" = nothing).

One filter per module, run in the order of ``FILTERS``; the first filter that returns "" ends
the run. ``should_stop`` is the streaming-time counterpart the engine calls after every token:
it recognises, cheaply, the points where the filters would cut anyway, so the model stops
generating text that would be thrown away (most of a CPU's latency budget).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from lsp_server.context.types import Context, Mode
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
from lsp_server.postprocess._lines import indent_width, is_blank
from lsp_server.postprocess._markers import first_tail_line, special_token_index

log = logging.getLogger(__name__)

Filter = Callable[[str, Context], str]

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
    chat_tail.apply,
    placeholder.apply,
    single_line.apply,
    trim_space.apply,
    indentation.apply,
    block_scope.apply,
    repetition.apply,
    trailing_comment.apply,
    suffix_overlap.apply,
    suffix_repeat.apply,
    dead_suffix.apply,
    empty.apply,
    syntax_check.apply,
]


def filter_name(fn: Filter) -> str:
    """The filter's module name (``block_scope``), as used by golden cases and logs."""
    return fn.__module__.rsplit(".", 1)[-1]


# Filters whose rejection means "the model took a wrong first step" (jumped ahead to a line that
# stands below, ended the function early, wrote a placeholder, started code that cannot parse
# where it stands, left the block or the code altogether for a test tail): worth a re-decode
# with that first token forbidden, rather than no suggestion. syntax_check: 19 of the 39 empty
# answers on B1's full set with the 0.5B; chat_tail and block_scope: the second try of many of
# the others (`return x` forbidden, the model writes `if __name__ == "__main__":` instead).
WRONG_START = frozenset(
    {"placeholder", "suffix_repeat", "dead_suffix", "syntax_check", "chat_tail", "block_scope"}
)


def postprocess(raw: str, ctx: Context) -> str:
    """Final insert text for the model's ``raw`` answer, or "" when it should not be shown."""
    return run_filters(raw, ctx)[0]


def run_filters(raw: str, ctx: Context) -> tuple[str, str | None]:
    """``postprocess``, also naming the filter that dropped the answer (None: kept)."""
    text = raw.replace("\r\n", "\n")
    for apply in FILTERS:
        name = filter_name(apply)
        try:
            text = apply(text, ctx)
        except Exception:  # a filter bug must cost one suggestion, never the server
            log.exception("postprocess filter %s failed; suggestion dropped", name)
            return "", name
        if not text:
            log.info("suggestion dropped by %s", name)
            return "", name
    return text, None


def should_stop(generated: str, ctx: Context) -> bool:
    """Whether ``generated`` (the text streamed so far) already holds the whole answer.

    Single-line mode: at the first newline, since ``single_line`` keeps the first line only
    (when nothing came before the newline the answer is empty and will be dropped anyway).
    Multi-line mode: see ``_multi_line_complete``. Any mode: at a leaked special token.
    Linear in ``len(generated)``.
    """
    if special_token_index(generated) >= 0:
        return True
    if ctx.mode is not Mode.MULTI_LINE:
        return "\n" in generated
    return _multi_line_complete(generated.split("\n"), ctx)


def _multi_line_complete(lines: list[str], ctx: Context) -> bool:
    """Stop where ``block_scope``, ``chat_tail`` or ``repetition`` would cut anyway.

    That is a completed line starting a chat/test tail, a completed line repeating the two
    before it, or a line indented less than the cursor's block. The latter stops as soon as its
    first character shows, unless it starts with a closing bracket: a closer like ``});`` may
    belong to the answer, so that line is awaited in full.
    """
    done, growing = lines[:-1], lines[-1]
    if not done:
        return False
    if first_tail_line(done, ctx) is not None:
        return True
    limit = block_scope.indent_limit(done, ctx)
    if limit is not None:
        if any(not is_blank(line) and indent_width(line) < limit for line in done[1:]):
            return True
        head = growing.lstrip()
        if head and head[0] not in ")]}" and indent_width(growing) < limit:
            return True
    if len(done) < 3 or is_blank(done[-1]):
        return False
    third = ctx.line_prefix + done[0] if len(done) == 3 else done[-3]
    return done[-1].rstrip() == done[-2].rstrip() == third.rstrip()
