"""The model worker: one job at a time, newer requests supersede older ones, cancel propagates."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from lsp_server.engine.base import Cancelled, CancelToken
from lsp_server.engine.worker import ModelWorker


def slow_job(started: threading.Event, seen: list[str]):
    def job(token: CancelToken) -> str:
        started.set()
        for _ in range(500):  # ~5 s unless cancelled, like a token loop
            if token.cancelled:
                seen.append(token.reason)
                raise Cancelled(token.reason)
            time.sleep(0.01)
        return "finished"

    return job


async def test_newer_request_for_same_key_cancels_the_older():
    worker = ModelWorker()
    started, seen = threading.Event(), []
    first = asyncio.ensure_future(worker.run("doc", slow_job(started, seen)))
    await asyncio.to_thread(started.wait, 5)
    second = await worker.run("doc", lambda token: "second")
    with pytest.raises(Cancelled):
        await first
    assert second == "second" and seen == ["superseded by a newer request"]
    worker.shutdown()


async def test_other_documents_are_not_cancelled():
    worker = ModelWorker()
    assert await asyncio.gather(worker.run("a", lambda t: "a"), worker.run("b", lambda t: "b")) == [
        "a",
        "b",
    ]
    worker.shutdown()


async def test_task_cancellation_sets_the_token():
    worker = ModelWorker()
    started, seen = threading.Event(), []
    task = asyncio.ensure_future(worker.run("doc", slow_job(started, seen)))
    await asyncio.to_thread(started.wait, 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(100):
        if seen:
            break
        await asyncio.sleep(0.01)
    assert seen == ["cancelled by the client"]
    # The worker is free again for the next job.
    assert await worker.run("doc", lambda t: 42) == 42
    worker.shutdown()


async def test_a_request_cancels_idle_work_for_any_document():
    worker = ModelWorker()
    started, seen = threading.Event(), []
    idle = asyncio.ensure_future(worker.run("file:///a.py", slow_job(started, seen), idle=True))
    await asyncio.get_running_loop().run_in_executor(None, started.wait)
    began = time.monotonic()
    assert await worker.run("file:///other.py", lambda _t: "answer") == "answer"
    assert time.monotonic() - began < 1.0  # waited one check, not the whole job
    with pytest.raises(Cancelled):
        await idle
    assert seen == ["a request came"]


async def test_newer_idle_work_supersedes_older_idle_work():
    worker = ModelWorker()
    started, seen = threading.Event(), []
    first = asyncio.ensure_future(worker.run("file:///a.py", slow_job(started, seen), idle=True))
    await asyncio.get_running_loop().run_in_executor(None, started.wait)
    assert await worker.run("file:///b.py", lambda _t: "warm", idle=True) == "warm"
    with pytest.raises(Cancelled):
        await first
    assert seen == ["idle-time work superseded"]
