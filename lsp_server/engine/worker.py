"""The one thread that touches the model: request superseding, idle work yielding to requests.

llama.cpp contexts are not thread-safe and a 2-core laptop gains nothing from two generations at
once, so every model job runs on one dedicated thread. The asyncio loop only awaits. A newer
request with the same key (a document URI) cancels the older one, so a burst of keystrokes
costs one generation, not one per key; any request cancels idle-time work (prefetch, warm-up).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import Callable
from typing import TypeVar

from lsp_server.engine.base import CancelToken

T = TypeVar("T")


class ModelWorker:
    def __init__(self) -> None:
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="infill-model"
        )
        self._latest: dict[str, CancelToken] = {}
        self._idle: set[CancelToken] = set()  # idle-time jobs (prefetch, warm-up) queued/running
        self._running = 0  # requests and idle jobs queued or running
        self._last = time.monotonic()  # when one last started or ended

    def quiet_for(self) -> float:
        """Seconds since the last request or idle job started or ended; 0 while one is queued
        or running (work that may wait for a quiet period: measuring ``model: auto``'s 1.5B)."""
        return 0.0 if self._running else time.monotonic() - self._last

    def submit(self, fn: Callable[[], T]) -> concurrent.futures.Future[T]:
        """Queue a job that is not a request (model loading)."""
        return self._executor.submit(fn)

    async def run(self, key: str, job: Callable[[CancelToken], T], *, idle: bool = False) -> T:
        """Run ``job(token)`` on the worker; cancel the previous request with the same key.

        ``idle``: work done in idle time (prefetch, warm-up). Any request cancels every idle
        job, so it waits at most one prompt chunk behind one; a new idle job cancels the older
        ones (the newest place the user looked at wins).

        If the awaiting task is cancelled ($/cancelRequest), the token is set so the token loop
        stops at its next check, and CancelledError propagates to the LSP layer.
        """
        token = CancelToken()
        for other in list(self._idle):
            other.cancel("idle-time work superseded" if idle else "a request came")
        if idle:
            self._idle.add(token)  # never a request's supersessor: only _idle cancels it
        else:
            previous = self._latest.get(key)
            if previous is not None:
                previous.cancel("superseded by a newer request")
            self._latest[key] = token
        future = self._executor.submit(job, token)
        self._running += 1
        self._last = time.monotonic()
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            token.cancel("cancelled by the client")
            raise
        finally:
            self._running -= 1
            self._last = time.monotonic()
            self._idle.discard(token)
            if self._latest.get(key) is token:
                del self._latest[key]

    def cancel(self, key: str, reason: str) -> None:
        """Cancel the job running or queued under ``key``, if any."""
        token = self._latest.get(key)
        if token is not None:
            token.cancel(reason)

    def cancel_all(self, reason: str = "shutting down") -> None:
        for token in [*self._latest.values(), *self._idle]:
            token.cancel(reason)

    def shutdown(self) -> None:
        self.cancel_all()
        self._executor.shutdown(wait=False, cancel_futures=True)
