"""End to end: the LSP server with a remote engine that accepts requests and never answers (a
real loopback socket server). The first completion waits as long as its time budget allows
(``maxTimeMs`` 1.5 s: 5 s, not ``remoteTimeoutMs``' 30 s) and is answered empty; the outage is
told once; while the engine is down the next completions are answered at once; when it answers
again, completions resume by themselves."""

from __future__ import annotations

import asyncio
import time

import pytest
import pytest_lsp
from pytest_lsp import LanguageClient

from lsp_server.engine.remote.engine import ANSWER_WAIT_MIN_S
from tests.e2e.lsp import config, initialize, inline, open_doc, wait_state
from tests.helpers.silent_engine import SilentEngine

pytestmark = pytest.mark.e2e


@pytest.fixture
def silent():
    engine = SilentEngine("a + b")
    yield engine
    engine.close()


@pytest_lsp.fixture(config=config())
async def client(lsp_client: LanguageClient):
    yield
    await lsp_client.shutdown_session()


def told(client: LanguageClient, word: str) -> list[str]:
    return [m.message for m in client.messages if word in m.message]


async def test_a_silent_engine_times_out_into_the_backoff_and_recovers(
    client: LanguageClient, silent: SilentEngine
):
    await initialize(
        client,
        {
            "engine": "openai",
            "remoteUrl": silent.url,
            "remoteModel": "qwen2.5-coder-7b",  # the name tells the FIM dialect
            "prefetch": False,
            "warmUp": False,
        },
    )
    assert (await wait_state(client))["state"] == "ready"
    uri = "file:///tmp/infill-e2e-silent/calc.py"
    open_doc(client, uri, "def add(a, b):\n    return \n")
    started = time.monotonic()
    assert await asyncio.wait_for(inline(client, uri, 1, 11), 20) == ""
    waited = time.monotonic() - started
    assert ANSWER_WAIT_MIN_S - 0.5 < waited < ANSWER_WAIT_MIN_S + 3, waited
    (paused,) = told(client, "paused")
    assert f"did not answer within {ANSWER_WAIT_MIN_S:g} s" in paused
    started = time.monotonic()
    for _ in range(3):  # while it is down: answered at once, nothing told again
        assert await inline(client, uri, 1, 11) == ""
    assert time.monotonic() - started < 1.0 and silent.requests == 1
    assert len(told(client, "paused")) == 1
    silent.speak()
    answer, deadline = "", time.monotonic() + 30
    while not answer and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        answer = await inline(client, uri, 1, 11)
    assert answer == "a + b"
    assert len(told(client, "resumed")) == 1
