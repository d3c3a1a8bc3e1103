"""One completion, start to finish: document -> context -> prompt -> engine -> postprocess.

Pure orchestration over plain data; used by the LSP server (on its model worker thread) and by
the ``infill-lsp complete`` CLI, so both always run the same pipeline.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from lsp_server.context.retrieval import Retriever, snippet_cost
from lsp_server.context.types import Context, Mode, Snapshot, Snippet
from lsp_server.context.window import Budget, build_context
from lsp_server.engine.base import CancelToken, Engine, Generation, GenerationRequest
from lsp_server.index.workspace import WorkspaceIndex
from lsp_server.paths import canonical
from lsp_server.postprocess.pipeline import WRONG_START, run_filters, should_stop, stop_texts
from lsp_server.postprocess.suffix_repeat import repeats_neighbour
from lsp_server.prompt.builder import build_fim_prompt
from lsp_server.settings import Settings
from lsp_server.syntax.incremental import DocumentTrees

# Extra decodes allowed when the answer only repeats a neighbouring line. Each costs generation
# time only: the prompt is still in the KV cache.
MAX_REDECODES = 2
COUNT_CACHE_LINES = 8192
# Cross-file snippets are kept per (document, anchor): they sit at the front of the prompt, so
# changing them costs the whole prompt's evaluation; the anchor changes rarely (context.anchor).
EXTRA_CACHE = 64
RETRIEVAL_MS = 20.0
# A request is a jump when its prompt would cost more than ``suffixTokens`` plus this many times
# ``jumpWindowTokens`` to evaluate: more than the cache's moves can save when the anchor moves
# down a few lines while typing (that re-evaluates the window below the cursor, ~suffixTokens).
JUMP_FACTOR = 3


@dataclass
class Completion:
    text: str  # final insert text ("" = no suggestion)
    raw: str  # what the model produced, before the filters
    mode: Mode
    generation: Generation | None
    context_ms: float
    total_ms: float
    snippets: int = 0  # cross-file snippets in the prompt
    retrieval_ms: float = 0.0  # finding them (0 when kept from the same anchor)
    prompt: list[int] | None = None  # the prompt's token ids (log_prompts)
    window: str = "full"  # "jump": answered from the short window (``jumpWindowTokens``)

    def stats(self) -> dict[str, float | int | str]:
        g = self.generation
        return {
            "mode": self.mode.value,
            "promptTokens": g.prompt_tokens if g else 0,
            "evaluatedTokens": g.evaluated_tokens if g else 0,
            "generatedTokens": g.generated_tokens if g else 0,
            "promptMs": round(g.prompt_ms, 1) if g else 0.0,
            "generateMs": round(g.generate_ms, 1) if g else 0.0,
            "contextMs": round(self.context_ms, 1),
            "snippets": self.snippets,
            "retrievalMs": round(self.retrieval_ms, 2),
            "totalMs": round(self.total_ms, 1),
            "finish": g.finish if g else "skipped",
            "window": self.window,
        }


class Completer:
    """Runs the pipeline against one engine. Settings and the index come with each call: their
    owner (the server's services, or a one-shot command) holds them once; the completer keeps
    only what it computes from the engine (token counts, cross-file snippets per anchor)."""

    def __init__(self, engine: Engine, trees: DocumentTrees | None = None) -> None:
        self.engine = engine
        self.trees = trees  # open documents' trees (the server's); None: parse afresh
        self._extras: OrderedDict[tuple[str, int], tuple[Snippet, ...]] = OrderedDict()
        self.retrieval_ms = 0.0  # of the last context_for
        # Token counts of lines for the context budgets: between keystrokes almost every line
        # of the window is the same, and tokenizing ~1,700 tokens again cost ~10 ms a request.
        self._count = functools.lru_cache(maxsize=COUNT_CACHE_LINES)(self._tokens_in)

    def _tokens_in(self, text: str) -> int:
        return len(self.engine.tokenize(text))

    def context_for(
        self, doc: Snapshot, settings: Settings, index: WorkspaceIndex | None = None
    ) -> Context:
        """The local window, with cross-file snippets in front when the index has any; their
        tokens come out of the prefix budget, so the prompt does not grow."""
        started = time.perf_counter()
        extra = self._snippets(doc, settings, index)
        self.retrieval_ms = (time.perf_counter() - started) * 1000
        cost = sum(snippet_cost(self._count, s.text) for s in extra)
        prefix_tokens, suffix_tokens = fit_budget(
            settings.prefix_tokens, settings.suffix_tokens, self.engine.n_ctx - settings.max_tokens
        )
        budget = Budget(max(64, prefix_tokens - cost), suffix_tokens)
        ctx = build_context(
            doc.text,
            doc.offset,
            doc.language,
            self._count,
            budget,
            doc.path,
            doc.anchor,
            self.trees,
        )
        if not extra and settings.prompt_format != "repo":
            return ctx
        if index is not None:
            repo, shown = index.display(doc.path)
        else:
            repo, shown = "", os.path.basename(doc.path)
        return dataclasses.replace(ctx, extra=extra, repo=repo, path=shown)

    def _snippets(
        self, doc: Snapshot, settings: Settings, index: WorkspaceIndex | None
    ) -> tuple[Snippet, ...]:
        """Cross-file snippets for a document inside a workspace folder (a file outside has
        no repository to draw from)."""
        if index is None or not doc.path:
            return ()
        if not settings.repo_context_for(self.engine.name):
            return ()
        if index.folder_of(Path(canonical(doc.path))) is None:
            return ()
        anchor = doc.anchor if doc.anchor is not None else doc.text.rfind("\n", 0, doc.offset)
        key = (doc.path, anchor)
        cached = self._extras.get(key)
        if cached is not None:
            self._extras.move_to_end(key)
            return cached
        retriever = Retriever(index, self._count)
        found = retriever.retrieve(
            doc.path, doc.text, doc.offset, settings.repo_context_tokens, RETRIEVAL_MS
        )
        self._extras[key] = found
        while len(self._extras) > EXTRA_CACHE:
            self._extras.popitem(last=False)
        return found

    def request_for(
        self, doc: Snapshot, settings: Settings, index: WorkspaceIndex | None = None
    ) -> tuple[Context, GenerationRequest | None]:
        """The context at ``doc`` and the generation request for it (None where the mode
        wants no suggestion): what ``complete`` runs and what a warm-up evaluates."""
        ctx = self.context_for(doc, settings, index)
        if ctx.mode is Mode.NONE:
            return ctx, None
        engine = self.engine
        prompt = build_fim_prompt(
            ctx,
            engine.dialect,
            engine.tokenize,
            engine.bos_id,
            repo_format=settings.prompt_format == "repo",
        )
        single = ctx.mode is Mode.SINGLE_LINE
        return ctx, GenerationRequest(
            prompt=prompt,
            max_tokens=settings.max_tokens_single_line if single else settings.max_tokens,
            temperature=settings.temperature,
            should_stop=lambda text: should_stop(heal(text, ctx.pending), ctx),
            max_time_ms=settings.max_time_ms,
            key=doc.path,
            stop_texts=stop_texts(ctx),
        )

    def chosen_request(
        self,
        doc: Snapshot,
        settings: Settings,
        index: WorkspaceIndex | None = None,
        jump: bool = False,
    ) -> tuple[Context, GenerationRequest | None, str]:
        """``request_for``; with ``jump`` (the server, which catches up in idle time), after a
        jump (see ``JUMP_FACTOR``) the same for a short window around the cursor instead: the
        first suggestions at a new place come in about a second, not the ~10-19 s of a cold
        2,000-token window."""
        ctx, request = self.request_for(doc, settings, index)
        size = settings.jump_window_tokens
        if request is None or not jump or not size:
            return ctx, request, "full"
        if self.engine.pending(request) <= settings.suffix_tokens + JUMP_FACTOR * size:
            return ctx, request, "full"
        short = dataclasses.replace(
            settings,
            prefix_tokens=max(16, size * 3 // 4),
            suffix_tokens=size // 4,
            repo_context="off",  # snippets would take the whole small budget
        )
        short_ctx, short_request = self.request_for(doc, short, index)
        if short_request is None:
            return ctx, request, "full"
        return short_ctx, short_request, "jump"

    def warm(
        self,
        doc: Snapshot,
        cancel: CancelToken,
        settings: Settings,
        index: WorkspaceIndex | None = None,
        *,
        jump: bool = True,
    ) -> int:
        """Evaluate the prompt a request at ``doc`` would have, without generating (idle
        time, e.g. where the cursor came to rest): the request then finds it in the KV cache.
        ``jump=False``: the full window even after a jump (the idle-time catch-up). Returns
        the prompt tokens evaluated (0 when the cache already holds the prompt)."""
        cancel.check()  # a cancelled idle job queued ahead of a request costs nothing
        request = self.chosen_request(doc, settings, index, jump)[1]
        if request is None or self.engine.pending(request) <= 1:
            return 0
        cancel.check()
        return self.engine.warm(request, cancel)

    def complete(
        self,
        doc: Snapshot,
        cancel: CancelToken,
        settings: Settings,
        index: WorkspaceIndex | None = None,
        jump: bool = False,
    ) -> Completion:
        """``jump``: answer from the short window after a jump (``chosen_request``)."""
        cancel.check()
        started = time.perf_counter()
        ctx, request, window = self.chosen_request(doc, settings, index, jump)
        context_ms = (time.perf_counter() - started) * 1000
        if request is None:
            return Completion("", "", ctx.mode, None, context_ms, context_ms)
        cancel.check()
        prompt = request.prompt
        generation, text = self._decode(request, ctx, cancel)
        total_ms = (time.perf_counter() - started) * 1000
        result = Completion(
            text,
            generation.text,
            ctx.mode,
            generation,
            context_ms,
            total_ms,
            len(ctx.extra),
            retrieval_ms=self.retrieval_ms,
            window=window,
        )
        if settings.log_prompts:
            result.prompt = prompt
        return result

    def _decode(
        self, request: GenerationRequest, ctx: Context, cancel: CancelToken
    ) -> tuple[Generation, str]:
        """Generate and filter; when the answer took a wrong first step — it merely repeats a
        line of the block, ends the block above code that would then be dead, opens with a
        placeholder comment or a test tail, leaves the block, cannot parse where it stands
        (``pipeline.WRONG_START``) — decode again with its first token of content forbidden,
        so the next-best path gets its chance instead of the suggestion being dropped."""
        banned: set[int] = set()
        evaluated = 0
        for _attempt in range(MAX_REDECODES + 1):
            request.banned_first = frozenset(banned)
            generation = self.engine.generate(request, cancel)
            evaluated += generation.evaluated_tokens
            answer = heal(_complete_part(generation), ctx.pending)
            text, dropped_by = run_filters(answer, ctx)
            if text or not generation.tokens or not self.engine.forbids_tokens:
                break
            if dropped_by not in WRONG_START and not repeats_neighbour(answer, ctx):
                break
            first = self._first_content_token(generation.tokens)
            if first is None or first in banned:
                break  # nothing but whitespace, or the ban did not take: nothing to steer
            banned.add(first)
        generation.evaluated_tokens = evaluated
        return generation, text

    def _first_content_token(self, tokens: list[int]) -> int | None:
        """The token where the answer's text stops being whitespace: the one to forbid.

        Forbidding a leading newline or indentation token instead would let the model write
        the same line one step later (B1: ``return x`` forbidden, the model wrote a newline,
        an indentation, then ``return x`` again)."""
        for i, token in enumerate(tokens):
            if self.engine.detokenize(tokens[: i + 1]).strip():
                return token
        return None


def heal(text: str, pending: str) -> str:
    """The model's answer relative to the cursor, when the prompt left out the whitespace
    ``pending`` before it (``Context.pending``): that whitespace is already in the document."""
    if not pending or text.startswith(pending):
        return text[len(pending) :]
    return text.lstrip(" \t")  # less (or other) whitespace than typed: the cursor is past it


def _complete_part(generation: Generation) -> str:
    """What of an answer may be shown: a generation cut by the time cap or the token cap keeps
    its whole lines
    (a half-written last line would be wrong code); a single cut line is kept as it is, the
    start of what the model would have written."""
    text = generation.text
    if generation.finish in ("time", "length") and "\n" in text.strip("\n"):
        return text[: text.rstrip("\n").rfind("\n") + 1]
    return text


# Tokens a prompt needs besides the two windows: FIM markers, a BOS, the typed head's rounding.
PROMPT_MARGIN = 16


def fit_budget(prefix_tokens: int, suffix_tokens: int, room: int) -> tuple[int, int]:
    """The prefix/suffix budgets scaled down together so that they fit ``room`` tokens (the
    engine's context less the answer: a llama-server slot holds a share of its context), or
    as set when they fit."""
    room -= PROMPT_MARGIN
    total = prefix_tokens + suffix_tokens
    if total <= room or room <= 0:
        return prefix_tokens, suffix_tokens
    return prefix_tokens * room // total, suffix_tokens * room // total
