"""End to end: the LSP server with a remote engine that accepts requests and never answers,
not even /health (a real loopback server). The first completion waits its quiet time
(``maxTimeMs`` 1.5 s: 5 s) and the /health question's timeout, not ``remoteTimeoutMs``' 30 s,
and is answered empty; the outage is told once; while the engine is down the next completions
are answered at once; when it answers again, completions resume by themselves. A busy engine
(silent for longer than the quiet time, but answering /health) is waited for: its completion
comes, and nothing is told."""

from __future__ import annotations

import asyncio
import time

import pytest
import pytest_lsp
from pytest_lsp import LanguageClient

from lsp_server.engine.remote.engine import ANSWER_WAIT_MIN_S
from lsp_server.engine.remote.http import HEALTH_TIMEOUT_S
from tests.e2e.lsp import config, initialize, inline, open_doc, wait_state
from tests.helpers.silent_engine import BusyEngine, SilentEngine

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


async def start(client: LanguageClient, url: str) -> str:
    await initialize(
        client,
        {
            "engine": "openai",
            "remoteUrl": url,
            "remoteModel": "qwen2.5-coder-7b",  # the name tells the FIM dialect
            "prefetch": False,
            "warmUp": False,
        },
    )
    assert (await wait_state(client))["state"] == "ready"
    uri = "file:///tmp/infill-e2e-silent/calc.py"
    open_doc(client, uri, "def add(a, b):\n    return \n")
    return uri


async def test_a_hung_engine_is_found_out_into_the_backoff_and_recovers(
    client: LanguageClient, silent: SilentEngine
):
    uri = await start(client, silent.url)
    started = time.monotonic()
    assert await asyncio.wait_for(inline(client, uri, 1, 11), 30) == ""
    waited = time.monotonic() - started
    expected = ANSWER_WAIT_MIN_S + HEALTH_TIMEOUT_S
    # the quiet time and /health's timeout; remoteTimeoutMs (30 s) is far above
    assert expected - 0.5 < waited < expected + 10, waited
    (paused,) = told(client, "paused")
    assert "accepted the request but does not answer" in paused
    said = f"nothing for {ANSWER_WAIT_MIN_S:g} s, not even /health within {HEALTH_TIMEOUT_S:g} s"
    assert said in paused
    assert silent.asked == 1
    started = time.monotonic()
    for _ in range(3):  # while it is down: answered at once, nothing told again
        assert await inline(client, uri, 1, 11) == ""
    # not one of them waited the quiet time
    assert time.monotonic() - started < ANSWER_WAIT_MIN_S and silent.requests == 1
    assert len(told(client, "paused")) == 1
    silent.speak()
    answer, deadline = "", time.monotonic() + 30
    while not answer and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        answer = await inline(client, uri, 1, 11)
    assert answer == "a + b"
    assert len(told(client, "resumed")) == 1


async def test_a_busy_engine_is_waited_for_and_no_outage_is_told(client: LanguageClient):
    late_s = ANSWER_WAIT_MIN_S + HEALTH_TIMEOUT_S + 0.5  # longer than a hung engine's end
    busy = BusyEngine("a + b", late_s=late_s, headers_first=True)
    try:
        uri = await start(client, busy.url)
        started = time.monotonic()
        assert await asyncio.wait_for(inline(client, uri, 1, 11), 30) == "a + b"
        assert late_s <= time.monotonic() - started < late_s + 10  # not remoteTimeoutMs
        assert busy.asked >= 1 and busy.requests == 1
        assert told(client, "paused") == [] and told(client, "resumed") == []
    finally:
        busy.close()
