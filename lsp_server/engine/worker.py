"""The one thread that touches the model, and request superseding.

llama.cpp contexts are not thread-safe and a 2-core laptop gains nothing from two generations at
once, so every model job runs on one dedicated thread. The asyncio loop only awaits. A newer
request with the same key (a document URI) cancels the older one, so a burst of keystrokes
costs one generation, not one per key.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
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

    def submit(self, fn: Callable[[], T]) -> concurrent.futures.Future[T]:
        """Queue a job that is not a request (model loading)."""
        return self._executor.submit(fn)

    async def run(self, key: str, job: Callable[[CancelToken], T]) -> T:
        """Run ``job(token)`` on the worker; cancel the previous job with the same key.

        If the awaiting task is cancelled ($/cancelRequest), the token is set so the token loop
        stops at its next check, and CancelledError propagates to the LSP layer.
        """
        token = CancelToken()
        previous = self._latest.get(key)
        if previous is not None:
            previous.cancel("superseded by a newer request")
        self._latest[key] = token
        future = self._executor.submit(job, token)
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            token.cancel("cancelled by the client")
            raise
        finally:
            if self._latest.get(key) is token:
                del self._latest[key]

    def cancel(self, key: str, reason: str) -> None:
        """Cancel the job running or queued under ``key``, if any."""
        token = self._latest.get(key)
        if token is not None:
            token.cancel(reason)

    def cancel_all(self, reason: str = "shutting down") -> None:
        for token in list(self._latest.values()):
            token.cancel(reason)

    def shutdown(self) -> None:
        self.cancel_all()
        self._executor.shutdown(wait=False, cancel_futures=True)
