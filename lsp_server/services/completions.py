"""Completions as the server serves them: the policy around the pipeline (``Completer``).

Owns the typing-through cache, prefetch, the request statistics and the CRLF round trip; reads
the settings (``Config``), the documents, the model and the index from their owners.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from lsprotocol import types

from lsp_server.completion import Completer, Completion
from lsp_server.context.types import Snapshot
from lsp_server.engine.base import Cancelled, CancelToken, EngineError
from lsp_server.services.client import Client
from lsp_server.services.config import Config
from lsp_server.services.documents import DocumentService, Located, restore_line_ends
from lsp_server.services.indexing import IndexService
from lsp_server.services.model import ModelService
from lsp_server.typing_cache import TypingCache

log = logging.getLogger("infill-lsp")
T = TypeVar("T")

# After an answer from the short window, the full window is evaluated once the document has had
# no request for this long (a user typing on keeps the short window's cache, which is cheap to
# extend; evaluating the full one would evict it).
CATCH_UP_AFTER_S = 2.0
# A cursor resting this close to the last request in the same document gets no warm-up: the
# cache holds that request's window, which a warm-up of a neighbouring anchor would evict.
NEAR_LINES = 40


@dataclass(frozen=True)
class Served:
    """A request's answer, with what acceptance statistics record of it."""

    text: str  # the insert text, in the document's own line ends ("" = no suggestion)
    mode: str = ""  # single_line / multi_line
    latency_ms: float = 0.0  # request to answer, as the user waited for it
    language: str = ""  # the editor's language id (else the grammar's name)
    model: str = ""  # the engine's name


NOTHING = Served("")


def _zero_totals() -> dict[str, int]:
    return {
        "requests": 0,
        "cacheHits": 0,
        "modelCalls": 0,
        "evaluatedTokens": 0,
        "promptTokens": 0,
        "prefetches": 0,  # prefetch generations that ran to the end
        "warmups": 0,  # warm-ups started (the cursor came to rest somewhere new)
        "warmupsDone": 0,  # warm-ups that evaluated their whole prompt
        "warmupTokens": 0,  # prompt tokens warm-ups evaluated
        "jumps": 0,  # answers from the short window after a jump (jumpWindowTokens)
        "catchUps": 0,  # full windows evaluated in idle time after such an answer
    }


class CompletionService:
    def __init__(
        self,
        client: Client,
        config: Config,
        documents: DocumentService,
        model: ModelService,
        index: IndexService,
    ) -> None:
        self.client = client
        self.config = config
        self.documents = documents
        self.model = model
        self.index = index
        self.cache = TypingCache()
        self.last: dict[str, object] = {}  # the last request's stats (B2 replays, tests)
        self.totals = _zero_totals()
        self._completer: Completer | None = None
        self._background: set[asyncio.Task] = set()  # idle-time tasks, held until done
        self._activity = 0  # requests and cursor signals: a catch-up waits for none to come
        self._last_place: tuple[str, int] | None = None  # (uri, line) of the last request

    def completer(self) -> Completer | None:
        """The pipeline for the engine loaded now (made again when the model changes)."""
        engine = self.model.engine
        if engine is None:
            return None
        if self._completer is None or self._completer.engine is not engine:
            self._completer = Completer(engine, self.documents.trees)
        return self._completer

    def drop_completer(self) -> None:
        """The model is being replaced: hold nothing of the old engine, and serve none of its
        suggestions from the typing cache."""
        self._completer = None
        self.cache.clear()

    def settings_changed(self) -> None:
        self.cache.clear()  # suggestions made under other settings are not reused

    def close(self, uri: str) -> None:
        self.cache.forget(uri)
        engine = self.model.engine
        if engine is not None:
            engine.forget(self.documents.path_of(uri))

    async def complete(self, uri: str, position: types.Position) -> Served:
        """The answer to a request at ``position`` (``NOTHING`` = no suggestion), in the
        document's own line ends. Never raises: a failure costs this suggestion, not the
        server."""
        started = time.perf_counter()
        self.totals["requests"] += 1
        self._activity += 1
        self._last_place = (uri, position.line)
        number = self.totals["requests"]  # `last` says which request it describes
        settings = self.config.settings
        completer = self.completer()
        if completer is None or not settings.enable:
            self.last = {"request": number, "finish": "skipped", "reason": self.model.state}
            return NOTHING  # still loading (or failed: the user was told once) -> empty, quickly
        located = self.documents.locate(uri, position, settings)
        if isinstance(located, str):
            self.last = {"request": number, "finish": "skipped", "reason": located}
            self.client.log(f"no completion for {uri}: {located}")
            return NOTHING
        snapshot = located.snapshot
        hit = self.cache.find(uri, snapshot.text, snapshot.offset)
        if hit is not None:  # the user is typing through the suggestion on screen
            self.totals["cacheHits"] += 1
            self.last = {"request": number, "finish": "cache"}
            return self._served(uri, located, *hit, started)
        snapshot = self.documents.anchored(uri, snapshot)
        result = await self._run(number, uri, completer, snapshot)
        if result is None:
            return NOTHING
        self._record(number, result)
        mode = result.mode.value
        self.cache.remember(uri, snapshot.text, snapshot.offset, result.text, mode=mode)
        if result.text and settings.prefetch:
            self._in_background(self._prefetch(uri, snapshot, result.text))
        if result.window == "jump":
            self.totals["jumps"] += 1
            self._in_background(self._catch_up(uri, snapshot, self._activity))
        return self._served(uri, located, result.text, mode, started)

    def _served(self, uri: str, located: Located, text: str, mode: str, started: float) -> Served:
        if not text:
            return NOTHING
        doc, engine = self.documents.get(uri), self.model.engine
        return Served(
            restore_line_ends(text, located.crlf),
            mode,
            (time.perf_counter() - started) * 1000,
            (doc.language_id if doc is not None else "") or located.snapshot.language,
            engine.name if engine is not None else "",
        )

    async def _run(
        self, number: int, uri: str, completer: Completer, snapshot: Snapshot
    ) -> Completion | None:
        settings, index = self.config.settings, self.index.index
        try:
            return await self.model.worker.run(
                uri, lambda token: completer.complete(snapshot, token, settings, index, jump=True)
            )
        except Cancelled as exc:
            self.last = {"request": number, "finish": "cancelled", "reason": str(exc)}
        except EngineError as exc:  # an engine's outage: told once (ModelService), quiet here
            self.last = {"request": number, "finish": "unavailable", "reason": str(exc)}
            if not exc.unreachable:
                self.client.log(f"completion failed: {exc}", types.MessageType.Warning)
        except Exception as exc:  # the server never dies on a request
            log.exception("completion failed")
            self.client.log(f"completion failed: {exc}", types.MessageType.Error)
        return None

    async def _prefetch(self, uri: str, served: Snapshot, suggestion: str) -> None:
        """In idle time, compute the suggestion that follows the served one's acceptance and
        put it in the typing cache. Runs under the document's key on the worker, so the next
        request for the document (any keystroke) cancels it. The prompt is the served one plus
        the suggestion, which the KV cache already holds: it costs generation only."""
        completer = self.completer()
        if completer is None:
            return
        offset = served.offset + len(suggestion)
        text = served.text[: served.offset] + suggestion + served.text[served.offset :]
        ahead = dataclasses.replace(served, text=text, offset=offset)
        settings, index = self.config.settings, self.index.index
        result = await self._idle(
            "prefetch",
            uri,
            lambda token: completer.complete(ahead, token, settings, index, jump=True),
        )
        if result is None:
            return
        self.totals["prefetches"] += 1
        self.cache.remember(uri, text, offset, result.text, empty_ok=True, mode=result.mode.value)

    async def _catch_up(self, uri: str, served: Snapshot, seen: int) -> None:
        """After an answer from the short window: the full window, in idle time, so the next
        request there gets the full context. Abandoned when anything happens first (a request
        or a cursor signal anywhere: the user is busy, or looks elsewhere)."""
        await asyncio.sleep(CATCH_UP_AFTER_S)
        completer = self.completer()
        settings, index = self.config.settings, self.index.index
        if completer is None or self._activity != seen or not settings.enable:
            return
        done = await self._idle(
            "catch-up",
            uri,
            lambda token: completer.warm(served, token, settings, index, jump=False),
        )
        if done is not None:
            self.totals["catchUps"] += 1

    def cursor_rests(self, uri: str, position: types.Position) -> None:
        """The editor says where the cursor came to rest (``infill/cursor``, or VS Code's
        automatic light-bulb request): warm the prompt there in idle time."""
        self._activity += 1
        if self.config.settings.warm_up:
            self._in_background(self.warm(uri, position))

    def _in_background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def warm(self, uri: str, position: types.Position) -> None:
        """Evaluate the prompt a request at ``position`` would have, without generating, so
        that request finds it in the KV cache. Idle-time work: any request cancels it (what it
        evaluated so far stays). Skipped where it cannot help: nothing loaded, a remote engine
        (its cache is on its side), a document we do not serve (closed, binary, too large),
        near the last request's place (its window is what the cache holds), or where the
        typing cache would answer."""
        settings = self.config.settings
        completer = self.completer()
        if completer is None or not settings.enable or completer.engine.remote:
            return
        last = self._last_place
        if last is not None and last[0] == uri and abs(last[1] - position.line) <= NEAR_LINES:
            return
        located = self.documents.locate(uri, position, settings)
        if isinstance(located, str):
            return
        snapshot = located.snapshot
        if self.cache.lookup(uri, snapshot.text, snapshot.offset) is not None:
            return  # a request here is answered from the typing cache, without the model
        snapshot = self.documents.anchored(uri, snapshot, remember=False)
        index = self.index.index
        self.totals["warmups"] += 1
        evaluated = await self._idle(
            "warm-up", uri, lambda token: completer.warm(snapshot, token, settings, index)
        )
        if evaluated is None:
            return
        self.totals["warmupsDone"] += 1
        self.totals["warmupTokens"] += evaluated

    async def _idle(self, what: str, uri: str, job: Callable[[CancelToken], T]) -> T | None:
        """Idle-time work on the worker (any request cancels it): its result, or None when it
        was cancelled or failed (idle work never costs the server)."""
        try:
            return await self.model.worker.run(uri, job, idle=True)
        except Cancelled:
            return None
        except Exception:
            log.exception("%s failed", what)
            return None

    def _record(self, number: int, result: Completion) -> None:
        """The request's stats: ``last``, the totals, one log line (and the prompt, with
        logPrompts)."""
        stats = result.stats()
        self.last = {"request": number, **stats}
        if result.generation is not None:
            self.totals["modelCalls"] += 1
            self.totals["evaluatedTokens"] += result.generation.evaluated_tokens
            self.totals["promptTokens"] += result.generation.prompt_tokens
        self.client.log(f"completion {stats}")
        engine = self.model.engine
        if result.prompt is not None and engine is not None:  # the logPrompts setting
            self.client.log("prompt: " + engine.detokenize(result.prompt, special=True))
