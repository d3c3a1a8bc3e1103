"""The engine interface: token ids in, streamed text out, cancellable between tokens.

In-process llama.cpp today; remote engines (llama-server, OpenAI-compatible, Ollama) implement
the same protocol later, so nothing above this layer knows where the model runs.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from lsp_server.prompt.fim import FimDialect


class Cancelled(Exception):
    """Raised inside the worker when a request's cancel token fires before any answer."""


class CancelToken:
    """A flag the token loop checks between tokens (and between prompt chunks)."""

    __slots__ = ("_callbacks", "_event", "_lock", "reason")

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], None]] = []
        self.reason = ""

    def cancel(self, reason: str = "cancelled") -> None:
        with self._lock:
            if self._event.is_set():
                return
            self.reason = reason
            self._event.set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()

    def on_cancel(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Run ``callback`` when cancelled (at once if already): e.g. close a remote engine's
        connection, which a blocking read would otherwise not notice. Returns a remover."""
        with self._lock:
            if not self._event.is_set():
                self._callbacks.append(callback)
                return lambda: self._remove(callback)
        callback()
        return lambda: None

    def _remove(self, callback: Callable[[], None]) -> None:
        with self._lock, contextlib.suppress(ValueError):
            self._callbacks.remove(callback)

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        if self._event.is_set():
            raise Cancelled(self.reason)


@dataclass
class GenerationRequest:
    prompt: list[int]
    max_tokens: int
    temperature: float = 0.0
    # Called with the text generated so far after every token; True stops generation (the
    # answer is known to be complete, e.g. a newline in single-line mode).
    should_stop: Callable[[str], bool] = field(default=lambda _text: False)
    # Token ids forbidden as the answer's first token of content: at every step while what was
    # generated so far is whitespace only (so the model cannot reach the same line through a
    # newline or an indentation first). A re-decode after the filters rejected an answer (e.g.
    # it repeated the line below the cursor) takes the next-best path instead.
    banned_first: frozenset[int] = frozenset()
    # Stop generating after this many milliseconds (counted from the first generated token;
    # 0 = no limit). The answer then ends with finish="time".
    max_time_ms: float = 0.0


@dataclass
class Generation:
    text: str
    tokens: list[int]  # the generated token ids (stop token excluded)
    prompt_tokens: int  # tokens in the prompt
    evaluated_tokens: int  # prompt tokens actually run through the model (the rest came from KV)
    generated_tokens: int
    prompt_ms: float
    generate_ms: float
    finish: str  # "stop" (end token), "criteria" (should_stop), "length", "time"


class Engine(Protocol):
    """What the completion pipeline needs from a model backend."""

    name: str
    n_ctx: int
    dialect: FimDialect
    bos_id: int | None  # prepended to FIM prompts when the model's tokenizer wants one
    eos_id: int | None
    chat_template: str | None  # Jinja text from the model file; None for base models
    # Whether ``GenerationRequest.banned_first`` is honoured (our own sampler); a remote engine
    # samples on its side and would only answer the same again, so no re-decode is asked of it.
    forbids_tokens: bool

    def tokenize(self, text: str, special: bool = False) -> list[int]: ...

    def special_text(self, token_id: int | None) -> str: ...

    def detokenize(self, ids: list[int], special: bool = False) -> str: ...

    def generate(self, request: GenerationRequest, cancel: CancelToken) -> Generation: ...
