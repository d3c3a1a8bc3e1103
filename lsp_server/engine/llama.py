"""In-process llama.cpp through llama-cpp-python, with the KV cache kept between requests.

Why not ``create_completion(prompt, suffix=...)``: in llama-cpp-python 0.3.x it hard-codes the
FIM token ids to 0, so the FIM sequence is built by ``prompt.fim`` and fed as token ids.

KV reuse: the cache holds the previous request's prompt plus what it generated; a new prompt
re-evaluates only the tokens after the longest common prefix. The prompt is evaluated in chunks
so a cancel (a newer keystroke) takes effect within one chunk instead of after the whole prompt.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from typing import Any

import numpy as np

from lsp_server.engine import kv_reuse, resident, speculative
from lsp_server.engine.base import (
    Cancelled,
    CancelToken,
    EngineError,
    Generation,
    GenerationRequest,
    Health,
)
from lsp_server.engine.resident import ResidentStates
from lsp_server.prompt.fim import FimDialect

log = logging.getLogger(__name__)

# Tokens per prompt-evaluation chunk: small enough that cancellation is felt within ~0.5 s on a
# 2-core laptop, large enough that batched matrix products stay efficient.
PROMPT_CHUNK = 64
TOP_K = 40  # candidates kept when sampling with a temperature
# A cache holding fewer tokens is not worth parking (the copy costs more than evaluating it).
PARK_MIN_TOKENS = 256
# Longest draft a speculative round proposes (its verify batch is one token longer): 16
# measured 1.76x on fix prompts vs 1.32x with 8 (b_engine_rates --speculation).
DRAFT_MAX = 16
# A draft model further behind the prompt than this drafts nothing for that answer (prompt
# lookup does): catching up would cost the user seconds; ``warm`` catches it up in idle time.
DRAFT_CATCH_UP_MAX = 64


class LlamaEngine:
    """One llama.cpp model and context; NOT thread-safe: drive it from one worker thread."""

    forbids_tokens = True  # our own sampler honours ``banned_first``
    remote = False  # the model runs in this process: no prompt leaves the machine
    # Part of the ``Engine`` protocol so the server can set it on any engine; never called here
    # (a model in this process cannot go down and come back).
    on_health: Health | None = None

    def __init__(
        self,
        model_path: str,
        dialect: FimDialect,
        *,
        n_ctx: int = 4096,
        n_threads: int = 2,
        n_gpu_layers: int = 0,
        reuse_min_tokens: int = 0,
        resident_bytes: int = 0,
        speculation: str = "off",
        flash_attn: bool = False,
    ) -> None:
        self.name = os.path.basename(model_path)
        self.dialect = dialect
        with _quiet_stderr():
            self._llm = open_llama(
                model_path,
                n_ctx=n_ctx,
                n_threads=n_threads,
                n_gpu_layers=n_gpu_layers,
                **({"flash_attn": True} if flash_attn else {}),
            )
        # llama.cpp pads the context it allocates; positions must still stay below the trained
        # context (the loader already asks for no more than that).
        trained = self._llm._model.n_ctx_train()
        self.n_ctx = min(self._llm.n_ctx(), trained) if trained > 0 else self._llm.n_ctx()
        self._n_vocab = self._llm.n_vocab()
        self._rng = np.random.default_rng()
        self.bos_id = self._llm.token_bos() if self._llm._model.add_bos_token() else None
        self.eos_id = self._llm.token_eos()
        # The Jinja chat template stored in the GGUF (instruct models have one), for the fix
        # action's prompt; None for base models.
        self.chat_template: str | None = self._llm.metadata.get("tokenizer.chat_template")
        self._stop_ids = set(dialect.stop_ids) | {self._llm.token_eos()}
        # KV chunk reuse (kv_reuse): runs of at least this many cached tokens are moved, not
        # evaluated again; 0 = only the common prefix. Needs a cache whose cells can shift.
        self.reuse_min_tokens = reuse_min_tokens if reuse_min_tokens and self._can_shift() else 0
        self.moved_tokens = 0  # of the last prompt evaluation (stats, tests)
        # Prompt states of documents switched away from (engine.resident), and the document
        # whose prompt the cache holds now ("" = none or a prompt of no document).
        self.residents = ResidentStates(resident_bytes)
        self._key = ""
        self.restored_tokens = 0  # of the last prompt evaluation (stats, tests)
        # Speculative decoding (engine.speculative): "off", "lookup" or "draft" (drafts from
        # ``self.draft``, a smaller model with the same vocabulary, see ``attach_draft``).
        self._speculation = speculation if speculation in speculative.MODES else "off"
        self.draft: LlamaEngine | None = None
        self.drafted_tokens = self.agreed_tokens = 0  # of the last generation (stats, tests)
        self.closed = False

    def attach_draft(self, draft: LlamaEngine) -> str | None:
        """Let ``draft`` write the drafts (``speculation: draft``); this engine owns it from
        now on (closes it). Returns why it cannot (and closes it), None when attached."""
        why = speculative.vocabulary_mismatch(self._llm, draft._llm)
        if why is None and draft.n_ctx < self.n_ctx:
            why = f"its context ({draft.n_ctx}) is smaller than the model's ({self.n_ctx})"
        if why is not None:
            draft.close()
            return why
        self.draft = draft
        return None

    def close(self) -> None:
        """Free the model and its context now (``model: auto`` trading the 1.5B for the 0.5B
        must not hold both in memory); any later request raises ``EngineError``."""
        self.closed = True
        self._llm.close()
        if self.draft is not None:
            self.draft.close()
            self.draft = None

    # -- tokens -------------------------------------------------------------------------------
    def tokenize(self, text: str, special: bool = False) -> list[int]:
        """special=False (every document text): text that happens to spell "<|fim_prefix|>"
        stays plain text, so a document can never inject control tokens into a prompt.
        special=True only for a rendered chat template, whose markers must be tokens."""
        if not text:
            return []
        return self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=special)

    def special_text(self, token_id: int | None) -> str:
        """The text of a control token ("<|im_end|>"), for chat templates; "" for None."""
        if token_id is None or token_id < 0:
            return ""
        return self._llm.detokenize([token_id], special=True).decode("utf-8", errors="replace")

    def count_tokens(self, text: str) -> int:
        return len(self.tokenize(text))

    def detokenize(self, ids: list[int], special: bool = False) -> str:
        """special=True spells control tokens out ("<|file_sep|>"): for prompt logs."""
        return self._llm.detokenize(ids, special=special).decode("utf-8", errors="replace")

    # -- KV bookkeeping -------------------------------------------------------------------------
    def kv_tokens(self) -> list[int]:
        """The tokens whose keys/values the cache holds, in position order (our record)."""
        return self._llm.input_ids[: self._llm.n_tokens].tolist()

    def kv_positions(self) -> int:
        """How many positions llama.cpp's own cache holds for our sequence (its record)."""
        import llama_cpp.llama_cpp as low

        memory = low.llama_get_memory(self._llm._ctx.ctx)
        return int(low.llama_memory_seq_pos_max(memory, 0)) + 1

    # -- generation ---------------------------------------------------------------------------
    def _fit(self, request: GenerationRequest) -> tuple[list[int], int]:
        """Clip the prompt from the front so prompt + generation fit the context window: no
        position may reach ``n_ctx`` (some architectures, GPTBigCode with its learned position
        table, abort the process there). Returns the prompt and the generation cap, at most
        half the window so a prompt always keeps room."""
        max_new = max(1, min(request.max_tokens, self.n_ctx // 2))
        room = self.n_ctx - max_new - 1
        prompt = request.prompt
        if len(prompt) > room:
            log.warning("prompt of %d tokens clipped to %d", len(prompt), room)
            prompt = prompt[len(prompt) - room :]
        return prompt, max_new

    def _evaluate_prompt(self, prompt: list[int], cancel: CancelToken, key: str = "") -> int:
        """Bring the KV cache to ``prompt`` (logits ready for the first new token); return how
        many tokens were evaluated (the rest were kept from the previous request: its common
        prefix, and with ``reuse_min_tokens`` the runs ``kv_reuse.plan`` moves into place)."""
        llm = self._llm
        cancel.check()
        self._switch(key, prompt)
        cached = llm.input_ids[: llm.n_tokens].tolist()
        plan = kv_reuse.plan(cached, prompt, self.reuse_min_tokens)
        if plan.moves and not self._move(plan.moves, plan.kept):
            plan = kv_reuse.plan(cached, prompt, 0)  # the cache refused: the common prefix only
        if plan.moves:
            llm.input_ids[: plan.kept] = kv_reuse.apply_to_record(cached, plan.moves, plan.kept)
        self.moved_tokens = sum(move.n for move in plan.moves)
        llm.n_tokens = plan.kept  # eval() drops KV cells from n_tokens on
        todo = prompt[plan.kept :]
        for start in range(0, len(todo), PROMPT_CHUNK):
            # Not before the first chunk: its decode applies the moves' pending re-rope (a
            # cache parked with the shift pending would keep keys roped for the old places).
            if start:
                cancel.check()
            llm.eval(todo[start : start + PROMPT_CHUNK])
        return len(todo)

    def _move(self, moves: tuple[kv_reuse.Move, ...], kept: int) -> bool:
        """Move cached cells as planned: what lies between a run's new and old place goes,
        then the run's positions shift down (llama.cpp re-ropes the keys at the next decode);
        cells left beyond ``kept`` go too, so the cache is exactly positions 0..kept-1 even if
        the evaluation after it is cancelled. False (cache cleared from the first move on,
        nothing moved) when llama.cpp refuses a removal."""
        import llama_cpp.llama_cpp as low

        memory = low.llama_get_memory(self._llm._ctx.ctx)
        for move in moves:
            if not low.llama_memory_seq_rm(memory, 0, move.dst, move.src):
                low.llama_memory_seq_rm(memory, 0, moves[0].dst, -1)
                self._llm.n_tokens = moves[0].dst
                return False
            low.llama_memory_seq_add(memory, 0, move.src, move.src + move.n, move.dst - move.src)
        low.llama_memory_seq_rm(memory, 0, kept, -1)
        return True

    def _can_shift(self) -> bool:
        """Moved cells need positions that can change: a shiftable cache, and rotary position
        embeddings (GPTBigCode/StarCoder1 add absolute positions into the cells: moving them
        would leave them at their old position)."""
        import llama_cpp.llama_cpp as low

        memory = low.llama_get_memory(self._llm._ctx.ctx)
        rotary = low.llama_model_rope_type(self._llm._model.model) != low.LLAMA_ROPE_TYPE_NONE
        return rotary and bool(low.llama_memory_can_shift(memory))

    def _check_open(self) -> None:
        if self.closed:  # llama.cpp's memory is gone: never call into it
            raise EngineError(f"the model {self.name} was unloaded")

    def warm(self, request: GenerationRequest, cancel: CancelToken) -> int:
        self._check_open()
        prompt, _ = self._fit(request)
        evaluated = self._evaluate_prompt(prompt, cancel, request.key)
        if self._drafter() == "draft":
            self.draft._evaluate_prompt(prompt, cancel, request.key)
        return evaluated

    def pending(self, request: GenerationRequest) -> int:
        prompt, _ = self._fit(request)
        cached = self._llm.input_ids[: self._llm.n_tokens].tolist()
        kept = kv_reuse.plan(cached, prompt, self.reuse_min_tokens).kept
        stored = self.residents.peek(request.key) if request.key != self._key else None
        if stored is not None:
            kept = max(kept, kv_reuse.plan(list(stored.tokens), prompt, self.reuse_min_tokens).kept)
        return len(prompt) - kept

    def forget(self, key: str) -> None:
        self.residents.forget(key)
        if self.draft is not None:
            self.draft.forget(key)

    def _park(self, key: str) -> None:
        """Copy the cache's sequence into the resident states under ``key`` (cells beyond the
        record go first: a cancelled evaluation may have left some)."""
        import llama_cpp.llama_cpp as low

        llm = self._llm
        low.llama_memory_seq_rm(low.llama_get_memory(llm._ctx.ctx), 0, llm.n_tokens, -1)
        data = resident.save(llm._ctx.ctx)
        if data is not None:
            tokens = tuple(llm.input_ids[: llm.n_tokens].tolist())
            self.residents.put(key, resident.State(tokens, data))

    def _switch(self, key: str, prompt: list[int]) -> None:
        """Before a prompt of another document (or of none) overwrites the cache: park the
        cache's state under its document, and restore ``key``'s parked state when that keeps
        more of the prompt than the cache does."""
        self.restored_tokens = 0
        if key == self._key:
            return
        llm = self._llm
        stored = self.residents.take(key) if key else None  # before parking can evict it
        if self._key and llm.n_tokens >= PARK_MIN_TOKENS and self.residents.budget_bytes:
            self._park(self._key)
        self._key = key
        if stored is None:
            return
        cached = llm.input_ids[: llm.n_tokens].tolist()
        restored = kv_reuse.plan(list(stored.tokens), prompt, self.reuse_min_tokens).kept
        if restored <= kv_reuse.plan(cached, prompt, self.reuse_min_tokens).kept:
            return
        if resident.load(llm._ctx.ctx, stored.data):
            n = len(stored.tokens)
            llm.input_ids[:n] = stored.tokens
            llm.n_tokens = self.restored_tokens = n
        else:  # what the sequence holds now is unknown: start from an empty one (and the
            # state is not kept: it was taken)
            import llama_cpp.llama_cpp as low

            low.llama_memory_seq_rm(low.llama_get_memory(llm._ctx.ctx), 0, -1, -1)
            llm.n_tokens = 0

    def _next_token(self, request: GenerationRequest, text: str) -> int:
        """Pick the next token from the logits of the last evaluated position, ``text`` being
        what was generated so far.

        Our own sampler rather than llama-cpp-python's: it lets a re-decode forbid the first
        token of content of an answer the filters rejected (``banned_first``) for as long as
        nothing but whitespace has been written, and greedy is one argmax.
        """
        logits = np.ctypeslib.as_array(self._llm._ctx.get_logits(), shape=(self._n_vocab,))
        if request.banned_first and not text.strip():
            logits = logits.copy()
            logits[list(request.banned_first)] = -np.inf
        if request.temperature <= 0:
            return int(np.argmax(logits))
        top = np.argpartition(logits, -TOP_K)[-TOP_K:]
        weights = np.exp((logits[top] - logits[top].max()) / request.temperature)
        return int(self._rng.choice(top, p=weights / weights.sum()))

    def generate(self, request: GenerationRequest, cancel: CancelToken) -> Generation:
        self._check_open()
        prompt, max_new = self._fit(request)
        started = time.perf_counter()
        evaluated = self._evaluate_prompt(prompt, cancel, request.key)
        prompt_done = time.perf_counter()

        out: list[int] = []
        text = ""
        finish = ""
        deadline = prompt_done + request.max_time_ms / 1000 if request.max_time_ms > 0 else None
        drafter = self._drafter() if request.temperature <= 0 else "off"
        if drafter == "draft" and self.draft.pending(request) > DRAFT_CATCH_UP_MAX:
            drafter = "lookup"
        k = 4  # draft length, adapted each round (speculative.next_k)
        self.drafted_tokens = self.agreed_tokens = 0
        pending: int | None = None  # the model's next token, known from a verify batch

        def take(token: int) -> str:
            """Append ``token`` to the answer; the finish reason if the answer ends here."""
            nonlocal text
            if token in self._stop_ids:
                return "stop"
            out.append(token)
            text = self.detokenize(out)
            if request.should_stop(text):
                return "criteria"
            return "length" if len(out) >= max_new else ""

        while not finish:
            if cancel.cancelled:
                raise Cancelled(cancel.reason)  # partial text of a stale request is never shown
            if deadline is not None and out and time.perf_counter() > deadline:
                finish = "time"
                break
            token = pending if pending is not None else self._next_token(request, text)
            pending = None
            finish = take(token)
            if finish:
                break  # a stopped answer never pays for evaluating its last token
            # Drafts only once the answer has content (until then ``banned_first`` may forbid
            # the model's own first choice, which a verify batch would not know).
            drafts = (
                self._drafts(drafter, prompt + out, min(k, max_new - len(out)), request, cancel)
                if drafter != "off" and text.strip()
                else []
            )
            if not drafts:
                self._llm.eval([token])
                continue
            base = self._llm.n_tokens
            predicted, rows = self._verify([token, *drafts])
            n = speculative.agreed(drafts, predicted)
            self.drafted_tokens += len(drafts)
            # A row whose two best tokens are nearly tied is not decided from the batch (its
            # rounding differs from a one-token decode's and could flip the choice): the drafts
            # before it are kept and its token is picked after a one-token decode, as plain
            # decoding would.
            tie = speculative.first_tie(speculative.leads(rows, predicted, n + 1))
            if tie is not None:
                n = tie
            self.agreed_tokens += n
            k = speculative.next_k(k, len(drafts), n, DRAFT_MAX)
            kept = [token, *drafts[:n]]
            if tie is None:
                self._trim(base + len(kept))  # the cache keeps ``token`` and the agreed drafts
                pending = predicted[n]
            else:
                self._trim(base + len(kept) - 1)
                self._llm.eval(kept[-1:])
            for agreed_token in drafts[:n]:
                finish = take(agreed_token)
                if finish:
                    break
        if self._llm.n_tokens > len(prompt) + len(out):  # agreed drafts after the answer's end
            self._trim(len(prompt) + len(out))
        end = time.perf_counter()
        return Generation(
            text=text,
            tokens=out,
            prompt_tokens=len(prompt),
            evaluated_tokens=evaluated,
            generated_tokens=len(out),
            prompt_ms=(prompt_done - started) * 1000,
            generate_ms=(end - prompt_done) * 1000,
            finish=finish,
        )

    # -- speculative decoding ---------------------------------------------------------------------
    @property
    def speculation(self) -> str:
        """What drafts (``Engine.speculation``): "off", "lookup" or "draft:<model file>"."""
        drafter = self._drafter()
        return f"draft:{self.draft.name}" if drafter == "draft" else drafter

    @speculation.setter
    def speculation(self, mode: str) -> None:
        self._speculation = mode if mode in speculative.MODES else "off"

    def _drafter(self) -> str:
        """The drafter in use: "draft" needs an attached draft model, else lookup serves."""
        if self._speculation == "draft" and self.draft is None:
            return "lookup"
        return self._speculation

    def _drafts(
        self,
        drafter: str,
        history: list[int],
        k: int,
        request: GenerationRequest,
        cancel: CancelToken,
    ) -> list[int]:
        """Up to ``k`` guesses of the tokens after ``history`` (prompt + answer so far)."""
        if k <= 0 or len(history) + k + 1 >= self.n_ctx:
            return []
        if drafter == "lookup":
            return speculative.lookup(history, k)
        return self.draft.propose(history, k, request.key, cancel)

    def propose(self, history: list[int], k: int, key: str, cancel: CancelToken) -> list[int]:
        """As a draft model: bring the cache to ``history`` (incrementally: it shares its prefix
        with the last round's) and write ``k`` greedy tokens."""
        if len(history) + k >= self.n_ctx:
            return []
        self._evaluate_prompt(history, cancel, key)
        out: list[int] = []
        while len(out) < k:
            cancel.check()
            logits = np.ctypeslib.as_array(self._llm._ctx.get_logits(), shape=(self._n_vocab,))
            token = int(np.argmax(logits))
            out.append(token)
            if token in self._stop_ids or len(out) == k:
                break
            self._llm.eval([token])
        return out

    def _verify(self, tokens: list[int]) -> tuple[list[int], np.ndarray]:
        """One decode of ``tokens`` after the cache, logits for every row; row i's greedy
        token (what the model writes after ``tokens[: i + 1]``), and the rows (llama.cpp's
        buffer: valid until the next decode)."""
        llm = self._llm
        if len(tokens) > llm.n_batch:  # the batch's C arrays hold n_batch tokens
            raise ValueError(f"a verify batch of {len(tokens)} tokens exceeds n_batch")
        n_past = llm.n_tokens
        llm._ctx.kv_cache_seq_rm(-1, n_past, -1)
        llm._batch.set_batch(batch=tokens, n_past=n_past, logits_all=True)
        llm._ctx.decode(llm._batch)
        llm.input_ids[n_past : n_past + len(tokens)] = tokens
        llm.n_tokens = n_past + len(tokens)
        rows = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(len(tokens), self._n_vocab))
        return rows.argmax(axis=1).tolist(), rows

    def _trim(self, n: int) -> None:
        """Drop the cache's cells from position ``n`` on (drafts the model did not agree with)."""
        import llama_cpp.llama_cpp as low

        low.llama_memory_seq_rm(low.llama_get_memory(self._llm._ctx.ctx), 0, n, -1)
        self._llm.n_tokens = n


def open_llama(
    model_path: str,
    *,
    n_ctx: int,
    n_threads: int,
    n_gpu_layers: int = 0,
    n_batch: int = 512,
    **options: Any,
):
    """``llama_cpp.Llama`` loaded the way the server loads it (same CPU kernels, the AMX-repack
    crash avoided, the weights read into memory); shared by the engine, the raw benchmark
    baseline and the quantization measurements, so their numbers are comparable. ``options``
    go to ``Llama`` as they are (``use_mmap=True`` maps the file again).

    Why not mmap (llama.cpp's default): weights mapped from the file are paged in from it for
    as long as the model is loaded, so a model file truncated under a running server (a copy
    or a download over it, an editor's cleanup) makes the next page access SIGBUS and kills
    the whole process. Read into memory, the model serves whatever happens to its file. The
    cost, measured on the 2-core machine (page cache warm): the 0.5B loads in 0.60-0.64 s
    instead of 0.42-0.46 s, its RSS is 605 MB instead of 631 MB (484 MB of them file pages);
    the 1.5B loads in 1.3-1.7 s instead of 1.2-2.3 s, RSS 1,270 MB instead of 1,860 MB."""
    import llama_cpp

    options.setdefault("use_mmap", False)
    with model_params(extra_buffers=extra_buffers_safe()):
        return llama_cpp.Llama(
            model_path=model_path,
            n_ctx=n_ctx,
            n_batch=n_batch,
            n_threads=n_threads,
            n_threads_batch=n_threads,
            n_gpu_layers=n_gpu_layers,
            verbose=False,
            **options,
        )


def extra_buffers_safe() -> bool:
    """Whether llama.cpp may repack weights into its "extra" CPU buffer types.

    On CPUs with AMX (Sapphire Rapids and later) a native build of llama.cpp repacks Q4_K weights
    for AMX, and inside VMs that do not grant the AMX tile state (seen on this project's
    Firecracker machines) the first decode segfaults. Without extra buffers the plain AVX-512
    kernels run instead. ``INFILL_LSP_REPACK=1`` forces repacking on, ``=0`` off.
    """
    forced = os.environ.get("INFILL_LSP_REPACK")
    if forced in ("0", "1"):
        return forced == "1"
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return "amx_int8" not in line.split()
    except OSError:
        pass
    return True


@contextlib.contextmanager
def model_params(*, extra_buffers: bool):
    """llama-cpp-python's Llama() does not expose ``use_extra_bufts``: set it on the defaults
    it reads, for the duration of one (single-threaded) model load."""
    import llama_cpp.llama_cpp as low  # the module Llama() reads its defaults from

    original = low.llama_model_default_params

    def patched():
        params = original()
        params.use_extra_bufts = extra_buffers
        return params

    low.llama_model_default_params = patched
    try:
        yield
    finally:
        low.llama_model_default_params = original


@contextlib.contextmanager
def _quiet_stderr():
    """llama.cpp prints model-loading chatter to fd 2 even with verbose=False on some builds."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
