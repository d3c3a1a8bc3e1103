"""Remote engines behind the same ``Engine`` interface as the in-process model: llama.cpp's
``llama-server`` (/completion), any OpenAI-compatible ``/v1/completions`` server (vLLM, TGI,
llama-cpp-python's server) and Ollama (/api/generate, raw). The FIM prompt is built on our side
in the model's dialect, as text; answers are streamed, and stopping early (the filters know the
answer is complete, the time cap, a newer keystroke) closes the connection.

Privacy: before the prompt leaves the machine its secrets and personal data are replaced by
typed placeholders (``lsp_server.privacy``), unless ``remoteRedact`` is off; a suggestion that
contains a placeholder is dropped (it would paste a placeholder into the user's code).

A dead engine: the first failure is reported once (``health``), later requests fail fast
without a connection attempt until a backoff has passed (1 s doubling to 30 s); the first
success after that reports the recovery.

A silent engine is told hung from busy: a CPU llama-server evaluating a cold prompt says
nothing (or only its headers) for 5-20 s before the first token, and is alive. After
``answer_wait_s`` of silence (5 s for a completion) the engine is asked whether it is alive
(``Http.alive``: its /health, which these servers answer from their HTTP threads while busy,
within ``HEALTH_TIMEOUT_S``, 2 s). One that answers is waited for, up to ``remoteTimeoutMs``;
one that does not (accepts connections and answers nothing: hung, or its process wedged)
counts as dead at once, so a completion finds out in about 7 s, not 30. The same goes for a
/tokenize question left unanswered: down only when /health is not answered either.

``remoteMaxConcurrent`` is per engine URL, shared by every object on it (``limit``); a request
cancelled while it waits for its turn is never sent. A llama-server that answers again after an
outage, or refuses the slot this process keeps to, is asked again what it serves (``recovery``):
the pin and a slot's context follow it, and one that now serves another model is reported
("changed") so that it is connected again, instead of getting prompts in the old dialect.
"""

from __future__ import annotations

import logging
import os
import threading
import time

from lsp_server.engine.base import (
    Cancelled,
    CancelToken,
    Generation,
    GenerationRequest,
    Health,
)
from lsp_server.engine.remote.http import Http, RemoteError
from lsp_server.engine.remote.limit import shared_limiter
from lsp_server.engine.remote.protocols import PROTOCOLS
from lsp_server.engine.remote.recovery import Recovery, Rediscovery, refuses_slot
from lsp_server.engine.remote.vocab import Splitter, TextVocab, estimate_pieces
from lsp_server.prompt.fim import FimDialect, spellings

log = logging.getLogger(__name__)

BACKOFF_S = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)
# How long a request with a time budget lets the engine be silent (before the answer's start,
# then between streamed lines) before asking whether it is alive: this many times its budget,
# but never less than the floor, which leaves room for a warm prompt's evaluation and a short
# queue on a team box (a longer silence only costs one /health question).
ANSWER_WAIT_FACTOR = 2.0
ANSWER_WAIT_MIN_S = 5.0
KINDS = ("llama-server", "openai", "ollama")
# A live engine that did not answer /tokenize in time (busy): its prompts are estimated for
# this long before it is asked again.
TOKENIZE_PAUSE_S = 30.0


def answer_wait_s(request: GenerationRequest, timeout_s: float) -> float:
    """How long silence lasts on ``request`` (before the answer's start, then between lines)
    before the engine is asked whether it is alive (a hung engine then counts as down, a busy
    one is waited for up to ``timeout_s``): ``timeout_s`` (``remoteTimeoutMs``, i.e. never
    asked) for a request without a time budget, else ``ANSWER_WAIT_FACTOR`` times its budget
    (``max_time_ms``), at least ``ANSWER_WAIT_MIN_S`` and at most ``timeout_s``."""
    if request.max_time_ms <= 0:
        return timeout_s
    budget_s = request.max_time_ms / 1000
    return min(timeout_s, max(ANSWER_WAIT_MIN_S, ANSWER_WAIT_FACTOR * budget_s))


def public_name(kind: str, model: str, http: Http) -> str:
    """The engine's name in the status, the log and the acceptance statistics: the model's
    file or repository name (not a path on the engine's machine), else where the engine is,
    without credentials or a query (``http://user:token@box:8080/?key=...``)."""
    if model:
        return f"{kind}:{os.path.basename(model.rstrip('/')) or model}"
    return f"{kind}:{http.host}:{http.port}{http.base}"


def dialect_name(setting: str, model: str, url: str) -> str:
    """The FIM dialect of a remote model: the setting, else guessed from the model's name."""
    if setting and setting != "auto":
        return setting
    name = f"{model} {url}".lower()
    for needle, dialect in (
        ("codegemma", "codegemma"),
        ("qwen", "qwen"),
        ("starcoder", "starcoder"),
        ("santacoder", "santacoder"),
        ("deepseek", "deepseek"),
        ("codellama", "codellama"),
        ("code-llama", "codellama"),
    ):
        if needle in name:
            return dialect
    raise ValueError(
        f"cannot tell the FIM dialect of remote model {model!r}: set remoteFimDialect "
        "(qwen, starcoder, santacoder, codellama, deepseek, codegemma)"
    )


def _around_secrets(text: str, split: Splitter) -> list[str]:
    """``split`` (the engine's /tokenize, which sees text as it is) for the text around what
    redaction would replace (a secret, personal data), whose pieces are estimated here: the
    prompt itself leaves redacted (``RemoteEngine.prompt_text``), and so do its token counts'
    questions."""
    from lsp_server.privacy.redact import redact  # deferred: remote engines only

    findings = sorted(redact(text).findings, key=lambda f: f.start)
    if not findings:
        return split(text)
    pieces: list[str] = []
    done = 0
    for finding in findings:
        if finding.start > done:
            pieces += split(text[done : finding.start])
        if finding.end > done:
            pieces += estimate_pieces(text[max(done, finding.start) : finding.end])
            done = finding.end
    return pieces + (split(text[done:]) if done < len(text) else [])


class RemoteEngine:
    """One remote model. Thread-safe: requests may run in parallel up to ``max_concurrent``."""

    bos_id = None
    eos_id = None
    forbids_tokens = False  # the server samples: a re-decode would return the same answer
    chat_template: str | None = None
    remote = True  # prompts leave the machine (redacted unless remoteRedact is off)
    speculation = "off"  # any drafting happens on the server's side

    def __init__(
        self,
        kind: str,
        http: Http,
        *,
        model: str,
        dialect: str,
        vocab_splitter,
        n_ctx: int,
        max_concurrent: int = 4,
        redact: bool = True,
        slot: int | None = None,
        rediscovery: Rediscovery | None = None,
    ) -> None:
        if kind not in PROTOCOLS:
            raise ValueError(f"unknown engine {kind!r}; choose one of {', '.join(KINDS)}")
        names = spellings(dialect)
        if names is None:
            raise ValueError(f"unknown FIM dialect {dialect!r}")
        self.kind, self.http, self.model = kind, http, model
        self._tokenize_after = 0.0  # /tokenize not asked before (monotonic): it was slow
        self.protocol = PROTOCOLS[kind]
        self.name = public_name(kind, model, http)
        self.n_ctx = n_ctx
        self.redact = redact
        roles = ("prefix", "suffix", "middle", "repo_name", "file_sep")
        specials = tuple(s for role in roles for s in names[role]) + names["stops"]
        self.vocab = TextVocab(self._pieces_by(vocab_splitter), specials)
        ids = self.vocab.special_ids
        self.dialect = FimDialect(
            name=dialect,
            prefix_id=ids[names["prefix"][0]],
            suffix_id=ids[names["suffix"][0]],
            middle_id=ids[names["middle"][0]],
            stop_ids=frozenset(ids[s] for s in names["stops"]),
            repo_name_id=ids[names["repo_name"][0]] if names["repo_name"] else None,
            file_sep_id=ids[names["file_sep"][0]] if names["file_sep"] else None,
        )
        self._stops = [s for s in names["stops"] if s]
        key = f"{http.scheme}://{http.host}:{http.port}{http.base}"
        self._limiter = shared_limiter(key, max_concurrent)  # with every engine object on it
        self._lock = threading.Lock()
        self._failures = 0
        self._down_until = 0.0
        self._down_reason = ""
        self.on_health: Health | None = None  # set by the server: outages, told once
        # llama-server: the slot this process keeps to (``remoteSlot``); None = the server
        # picks (by prompt similarity). Dropped, with one log line, when the engine goes down;
        # picked again when it is asked again what it serves (``_ask_again``).
        self.slot = slot if kind == "llama-server" else None
        self._recovery = Recovery(rediscovery if kind == "llama-server" else None)

    def close(self) -> None:
        """Nothing to free: the model lives on the other machine and every request opens and
        closes its own connection. There for the ``Engine`` protocol (``model: auto`` closes
        the engine it measured and does not keep)."""

    def live(self) -> dict[str, object]:
        """What changes while it serves, for ``infill/status``: the slot kept to now (the
        server's choice once it named it, a pin picked again after a restart)."""
        return {"slot": self.slot} if self.kind == "llama-server" else {}

    def forget(self, key: str) -> None:
        """Nothing kept per document here."""

    def pending(self, request: GenerationRequest) -> int:
        """Unknown from here (the engine's cache): never a reason to shorten the prompt."""
        return 0

    def warm(self, request: GenerationRequest, cancel: CancelToken) -> int:
        """Nothing to warm from here: the engine caches prompts on its side (llama-server's
        ``cache_prompt``) and a warm-up request would hold one of its slots."""
        return 0

    # -- tokens ---------------------------------------------------------------------------
    def tokenize(self, text: str, special: bool = False) -> list[int]:
        return self.vocab.tokenize(text, special)

    def detokenize(self, ids: list[int], special: bool = False) -> str:
        return self.vocab.detokenize(ids, special)

    def special_text(self, token_id: int | None) -> str:
        if token_id is None:
            return ""
        return self.vocab.detokenize([token_id], special=True)

    def _pieces_by(self, split: Splitter) -> Splitter:
        """``split``, estimated instead while the engine is down, or when it does not answer
        (llama-server's /tokenize). Unanswered is not down by itself: a busy llama-server's
        HTTP threads may take longer than the question's timeout. The engine is down when its
        /health goes unanswered too (``Http.alive``): a hung engine must not hold each
        prompt's tokenization for a timeout before the request meets the backoff. A live one
        is not asked again for ``TOKENIZE_PAUSE_S``: prompts are estimated meanwhile rather
        than each waiting for the timeout."""

        def pieces(text: str) -> list[str]:
            if self._down_for() > 0 or time.monotonic() < self._tokenize_after:
                return estimate_pieces(text)
            try:
                return _around_secrets(text, split) if self.redact else split(text)
            except RemoteError as exc:
                if exc.unreachable:
                    if self.http.alive():
                        log.info("%s: /tokenize not answered (%s); estimating", self.name, exc)
                        self._tokenize_after = time.monotonic() + TOKENIZE_PAUSE_S
                    else:
                        self._went_down(exc)
                return estimate_pieces(text)

        return pieces

    # -- health ---------------------------------------------------------------------------
    def _down_for(self) -> float:
        """Seconds until the next try at a down engine (0: up, or its backoff has passed)."""
        with self._lock:
            return max(0.0, self._down_until - time.monotonic())

    def _check_up(self) -> None:
        if self._recovery.retired:  # quiet: told once ("changed"), the engine is replaced
            raise RemoteError(self._recovery.retired, unreachable=True)
        wait = self._down_for()
        if wait > 0:
            raise RemoteError(f"{self._down_reason} (next try in {wait:.0f} s)", unreachable=True)

    def _went_down(self, exc: RemoteError) -> None:
        with self._lock:
            if self._recovery.retired:
                return  # being replaced: its failures are no one's outage
            # llama-server may not refuse a slot id: an old build puts a request for a slot
            # it does not have (restarted with fewer) off forever, which ends here as a
            # timeout. The pin goes with the outage, told once; the engine is asked again
            # what it serves when it answers again.
            pinned, self.slot = self.slot, None
            self._recovery.outage()
            first = self._failures == 0
            delay = BACKOFF_S[min(self._failures, len(BACKOFF_S) - 1)]
            self._failures += 1
            self._down_until = time.monotonic() + delay
            self._down_reason = str(exc)
        if pinned is not None:
            log.warning("%s: requests are no longer pinned to slot %d", self.name, pinned)
        if first and self.on_health is not None:
            self.on_health("down", str(exc))

    def _came_up(self) -> None:
        with self._lock:
            was_down = self._failures > 0
            self._failures, self._down_until = 0, 0.0
        if not was_down:
            return
        self._ask_again()
        if self._recovery.retired:
            return  # it serves another model: told "changed" instead
        if self.on_health is not None:
            self.on_health("up", f"the engine at {self.http.url} answers again")

    def _ask_again(self) -> bool:
        """A llama-server that may have restarted (it answers again after an outage, or
        refused our slot) is asked what it serves, once per recovery (``Recovery``): the slot
        to keep to and a slot's context follow it. One that serves another model is retired
        (it refuses requests) and says "changed": the model service connects again, in the
        new model's dialect and vocabulary. True when it was asked."""
        found = self._recovery.ask(self.http.url)
        if found is None:
            return False
        if found.changed:
            log.warning("%s: %s", self.name, self._recovery.retired)
            if self.on_health is not None:
                self.on_health("changed", found.changed)
        else:
            with self._lock:
                self.slot, self.n_ctx = found.slot, found.n_ctx or self.n_ctx
        return True

    def _slot_refused(self, slot: int, exc: RemoteError) -> bool:
        """The engine refused the slot id sent: not pinned any more, until it is asked again
        what it serves. True: it was asked (and serves the same model): send again."""
        with self._lock:
            if self.slot == slot:
                self.slot = None
        log.warning("%s: slot %d refused (%s); not pinned", self.name, slot, exc)
        return self._ask_again() and not self._recovery.retired

    # -- generation -----------------------------------------------------------------------
    def prompt_text(self, prompt: list[int]) -> tuple[str, tuple[str, ...]]:
        """What leaves the machine: the prompt as text, redacted; and the placeholders put in."""
        text = self.vocab.render(prompt)
        if not self.redact:
            return text, ()
        from lsp_server.privacy.redact import redact  # deferred: remote engines only

        redaction = redact(text)
        return redaction.text, tuple(redaction.placeholders)

    def _send(
        self, request: GenerationRequest, body: dict, cancel: CancelToken, stop_early: CancelToken
    ) -> tuple[str, str, int | None, float | None]:
        """``_stream`` to the slot this process keeps to; a failure to reach the engine puts
        it down. A slot id the engine refuses (a build that checks it, restarted with fewer
        slots) is dropped, the engine asked again what it serves, and the request sent once
        more, to the slot picked now."""
        while True:
            slot = self.slot
            body.pop("id_slot", None)
            if slot is not None:
                body["id_slot"] = slot
            try:
                return self._stream(request, body, cancel, stop_early)
            except RemoteError as exc:
                if exc.unreachable:
                    self._went_down(exc)
                if slot is None or not refuses_slot(exc) or not self._slot_refused(slot, exc):
                    raise

    def _stream(
        self, request: GenerationRequest, body: dict, cancel: CancelToken, stop_early: CancelToken
    ) -> tuple[str, str, int | None, float | None]:
        """One request's answer: (text, finish, prompt tokens evaluated, first piece's time)."""
        if cancel.cancelled:  # stale by now (a newer keystroke): never sent
            raise Cancelled(cancel.reason)
        text, finish, evaluated, first_at = "", "length", None, None
        quiet_s = answer_wait_s(request, self.http.timeout_s)
        try:
            for event in self.http.stream(self.protocol.path, body, stop_early, quiet_s):
                piece = self.protocol.text(event)
                if piece and first_at is None:
                    first_at = time.perf_counter()
                text += piece
                evaluated = self.protocol.evaluated(event) or evaluated
                if self.protocol.done(event):
                    finish = "stop"
                    break
                if piece and request.should_stop(text):
                    finish = "criteria"
                    stop_early.cancel("criteria")
                    break
                if (
                    request.max_time_ms > 0
                    and first_at is not None
                    and (time.perf_counter() - first_at) * 1000 > request.max_time_ms
                ):
                    finish = "time"
                    stop_early.cancel("time")
                    break
        except Cancelled:
            if cancel.cancelled:
                raise
            # stopped on purpose (criteria/time): the text so far is the answer
        return text, finish, evaluated, first_at

    def generate(self, request: GenerationRequest, cancel: CancelToken) -> Generation:
        self._check_up()
        started = time.perf_counter()
        prompt, placeholders = self.prompt_text(request.prompt)
        # the request's own stop texts first (the OpenAI API takes four): a single-line answer
        # ends at its newline on the engine's side, which frees the slot at once
        stops = list(dict.fromkeys([*request.stop_texts, *self._stops]))
        body = self.protocol.body(prompt, request, self.model, stops)
        stop_early = CancelToken()  # the filters or the time cap end the answer: close it
        remove = cancel.on_cancel(lambda: stop_early.cancel(cancel.reason))
        try:
            # the engine's turn (remoteMaxConcurrent): a request cancelled while it waits for
            # it (a newer keystroke came) raises Cancelled and is never sent
            with self._limiter.hold(cancel):
                self._check_up()  # it went down while this one waited: fail fast
                text, finish, evaluated, first_at = self._send(request, body, cancel, stop_early)
        finally:
            remove()
        self._came_up()  # after an outage: asked again what it serves (the pin follows)
        self._check_up()  # it serves another model now: not an answer to our prompt
        if any(p in text for p in placeholders):
            text, finish = "", "redacted"  # never paste a placeholder into the user's code
        end = time.perf_counter()
        first = first_at or end
        tokens = self.vocab.tokenize(text)
        return Generation(
            text=text,
            tokens=tokens,
            prompt_tokens=len(request.prompt),
            evaluated_tokens=int(evaluated) if evaluated is not None else len(request.prompt),
            generated_tokens=len(tokens),
            prompt_ms=(first - started) * 1000,
            generate_ms=(end - first) * 1000,
            finish=finish,
        )
