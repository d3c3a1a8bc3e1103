"""The engine interface: token ids in, streamed text out, cancellable between tokens.

In-process llama.cpp (``engine.llama``) and remote engines (``engine.remote``: llama-server,
OpenAI-compatible, Ollama) implement the same protocol. What differs between them is told by
fields of the protocol (``forbids_tokens``, ``remote``, ``on_health``) and failures come as one
error type (``EngineError``), so nothing above this layer probes an engine's class or imports a
backend's module to know where the model runs.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

# At run time, not only for type checkers: ``typing.get_type_hints(Engine)`` resolves every
# field (tests/unit/test_engine_protocol.py). ``prompt.fim`` imports nothing of ours.
from lsp_server.prompt.fim import FimDialect

# Told by an engine when it goes down or comes back: (state "down" | "up" | "changed": back,
# serving another model, to be connected again; a message for the user). Called on the thread
# that ran the request: a listener on an event loop must hop to it.
Health = Callable[[str, str], None]


class EngineError(Exception):
    """The engine answered with an error, or could not be reached.

    One type for every backend, so a caller above the engine catches this and never a
    backend's own error (``remote.http.RemoteError`` is a subclass). ``unreachable``: the
    failure is at the connection level (the engine is down or restarting); the engine reports
    that once through ``on_health``, so a caller need not warn about it again on every request.
    """

    def __init__(self, message: str, *, unreachable: bool = False) -> None:
        super().__init__(message)
        self.unreachable = unreachable


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
    # Texts at which ``should_stop`` fires wherever they appear (the newline of a single-line
    # answer): an engine that samples on its side stops there itself, freeing its slot at once.
    stop_texts: tuple[str, ...] = ()
    # The document the prompt is for ("" = none): an engine that keeps prompt states per
    # document parks the cache's state when another document's prompt comes, and restores it
    # when the document comes back.
    key: str = ""


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
    """What the completion pipeline needs from a model backend.

    Every capability is a field that each engine sets (no ``hasattr`` probing): a caller reads
    ``engine.remote`` rather than asking which class it holds. Failures other than cancellation
    are raised as ``EngineError``.
    """

    # Shown to the user (status, logs): the model file's name, or "kind:model" for a remote one.
    name: str
    # Positions the model may use: prompt plus generation must stay below this.
    n_ctx: int
    # The FIM control tokens the prompt is built with, as this engine's token ids.
    dialect: FimDialect
    # Prepended to FIM prompts when the model's tokenizer wants one; None otherwise.
    bos_id: int | None
    # The end-of-text token, spelled into the fix action's chat prompt; None when unknown (a
    # remote engine, which stops on its own side).
    eos_id: int | None
    # Jinja text from the model file, for the fix action's chat prompt; None for base models
    # (and remote engines, whose template we cannot read).
    chat_template: str | None
    # Whether ``GenerationRequest.banned_first`` is honoured (our own sampler); a remote engine
    # samples on its side and would only answer the same again, so no re-decode is asked of it.
    forbids_tokens: bool
    # Whether prompts leave this machine (the engine is reached over the network): such an
    # engine can be down (``EngineError`` with ``unreachable``) and tells it via ``on_health``.
    remote: bool
    # What drafts tokens for speculative decoding, for status: "off", "lookup" or
    # "draft:<model file>" (a remote engine's own speculation is its business: "off").
    speculation: str
    # Set by the server to hear of outages and recoveries, told once each rather than on
    # every request. None: nobody listens. A local engine never calls it (it cannot go down).
    on_health: Health | None

    def tokenize(self, text: str, special: bool = False) -> list[int]:
        """Token ids of ``text``; control-token spellings become tokens only with special."""
        ...

    def special_text(self, token_id: int | None) -> str:
        """The text of a control token (for chat templates); "" for None."""
        ...

    def detokenize(self, ids: list[int], special: bool = False) -> str:
        """The text of ``ids``; special=True spells control tokens out (prompt logs)."""
        ...

    def generate(self, request: GenerationRequest, cancel: CancelToken) -> Generation:
        """Run one request. Raises ``Cancelled`` when ``cancel`` fires before the answer is
        complete, ``EngineError`` when the engine fails."""
        ...

    def pending(self, request: GenerationRequest) -> int:
        """How many of ``request``'s prompt tokens ``generate`` would evaluate now (the rest it
        keeps from its cache); 0 for an engine whose cache is not ours to see."""
        ...

    def forget(self, key: str) -> None:
        """The document ``key`` is closed: drop any state kept for it."""
        ...

    def warm(self, request: GenerationRequest, cancel: CancelToken) -> int:
        """Bring the engine's cache to ``request``'s prompt without generating (idle time),
        so the request itself finds it there; returns the prompt tokens evaluated (0 for an
        engine that keeps no cache of ours). A cancel keeps what was evaluated so far."""
        ...

    def close(self) -> None:
        """Free what the engine holds (a model in memory), so a replacement does not need
        room for both; the engine is not used afterwards."""
        ...
