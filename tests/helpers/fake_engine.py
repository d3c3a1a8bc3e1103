"""A fake engine for handler and service tests: the whole ``Engine`` protocol, answers from a
function of the prompt's text, every call recorded. End-to-end tests use the real model."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lsp_server.engine.base import Cancelled, CancelToken, Generation, GenerationRequest, Health
from lsp_server.prompt.fim import FimDialect
from lsp_server.services.client import NoProgress

# Token ids 1-3 are the FIM markers; characters are their code points (all above 3).
DIALECT = FimDialect("test", 1, 2, 3, frozenset({0}))
MARKERS = {1: "<PRE>", 2: "<SUF>", 3: "<MID>"}


@dataclass
class FakeEngine:
    """``answer(prompt)`` gives the raw answer for a prompt spelled with ``MARKERS``; ``fail``
    is raised instead when set; ``gate``, when set, holds a generation until it is opened or
    the request is cancelled (a slow model)."""

    answer: Callable[[str], str] = lambda _prompt: ""
    fail: Exception | None = None
    gate: threading.Event | None = None
    name: str = "fake-base.gguf"
    n_ctx: int = 4096
    dialect: FimDialect = DIALECT
    bos_id: int | None = None
    eos_id: int | None = None
    chat_template: str | None = None
    forbids_tokens: bool = True
    remote: bool = False
    speculation: str = "off"
    on_health: Health | None = None
    prompts: list[str] = field(default_factory=list)
    warmed: list[str] = field(default_factory=list)
    cached: list[int] = field(default_factory=list)  # the prompt last generated or warmed
    closed: bool = False
    forgotten: list[str] = field(default_factory=list)

    def tokenize(self, text: str, special: bool = False) -> list[int]:
        return [ord(c) for c in text]

    def detokenize(self, ids: list[int], special: bool = False) -> str:
        return "".join(MARKERS.get(i, "") if i in MARKERS else chr(i) for i in ids)

    def special_text(self, token_id: int | None) -> str:
        return MARKERS.get(token_id, "") if token_id is not None else ""

    def generate(self, request: GenerationRequest, cancel: CancelToken) -> Generation:
        prompt = self.detokenize(request.prompt)
        self.prompts.append(prompt)
        if self.gate is not None:
            while not self.gate.wait(0.01):
                if cancel.cancelled:
                    raise Cancelled(cancel.reason)
        cancel.check()
        if self.fail is not None:
            raise self.fail
        text = self.answer(prompt)
        self.cached = list(request.prompt)
        return Generation(
            text,
            self.tokenize(text),
            len(request.prompt),
            len(request.prompt),
            len(text),
            1.0,
            1.0,
            "stop",
        )

    def warm(self, request: GenerationRequest, cancel: CancelToken) -> int:
        if self.gate is not None:
            while not self.gate.wait(0.01):
                if cancel.cancelled:
                    raise Cancelled(cancel.reason)
        cancel.check()
        self.warmed.append(self.detokenize(request.prompt))
        evaluated = self.pending(request)
        self.cached = list(request.prompt)
        return evaluated

    def pending(self, request: GenerationRequest) -> int:
        """Like the real engine's common-prefix reuse (no chunk moves)."""
        same = 0
        for a, b in zip(self.cached, request.prompt, strict=False):
            if a != b:
                break
            same += 1
        return len(request.prompt) - same

    def forget(self, key: str) -> None:
        self.forgotten.append(key)

    def close(self) -> None:
        self.closed = True


@dataclass
class RecordingClient:
    """The services' ``Client`` port, recording what would reach the editor."""

    logs: list[str] = field(default_factory=list)
    told: list[str] = field(default_factory=list)
    notified: list[tuple[str, Any]] = field(default_factory=list)

    def log(self, message: str, level: Any = None) -> None:
        self.logs.append(message)

    def tell(self, message: str, level: Any = None) -> None:
        self.told.append(message)

    def notify(self, method: str, params: Any) -> None:
        self.notified.append((method, params))

    async def progress(self, title: str, task: Any = None) -> NoProgress:
        return NoProgress()

    async def watch_files(self, glob: str) -> None:
        pass
