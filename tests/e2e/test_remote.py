"""End to end: the LSP server with a REAL remote engine on loopback -- llama-cpp-python's
OpenAI-compatible server with the default model -- through a recording proxy that keeps what
left the machine. An editor configured with only ``engine`` and ``remoteUrl`` is told the model
by the engine. A fault test kills the engine mid-request and restarts it."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from lsp_server.model.default import QWEN_05B as DEFAULT_MODEL
from lsp_server.model.default import cached_path
from tests.e2e.lsp import SERVER, capabilities, inline, open_doc, status, wait_state
from tests.helpers.recording_proxy import RecordingProxy

pytestmark = [pytest.mark.e2e, pytest.mark.model]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fibonacci.py"
ALIAS = "qwen2.5-coder-0.5b"  # the name says the FIM dialect (remoteFimDialect: auto)
SECRET = "sk-live-4f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Engine:
    """llama-cpp-python's server (tests.helpers.openai_server) on a fixed port."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 120) -> None:
        path = cached_path(DEFAULT_MODEL)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.helpers.openai_server", "--model", str(path),
             "--model_alias", ALIAS, "--host", "127.0.0.1", "--port", str(self.port),
             "--n_ctx", "4096", "--n_threads", "2", "--verbose", "False"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/v1/models", timeout=2):
                    return
            except OSError:
                time.sleep(0.3)
        raise TimeoutError("llama-cpp-python's server did not start")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None


@pytest.fixture(scope="module")
def engine():
    cached_path(DEFAULT_MODEL).exists() or pytest.skip("the default model is not joined yet")
    engine = Engine(free_port())
    engine.start()
    yield engine
    engine.kill()


@pytest.fixture(scope="module")
def proxy(engine):
    proxy = RecordingProxy(engine.port)
    yield proxy
    proxy.close()


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER), scope="module")
async def client(lsp_client: LanguageClient, proxy: RecordingProxy):
    await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=capabilities(),
            initialization_options={
                "engine": "openai",
                "remoteUrl": f"http://127.0.0.1:{proxy.port}",
                "remoteModel": ALIAS,
                "maxTimeMs": 0,
                "prefetch": False,
                "maxTokens": 48,
            },
        )
    )
    st = await wait_state(lsp_client)
    assert st["state"] == "ready", st
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER), loop_scope="module")
async def bare_client(lsp_client: LanguageClient, engine: Engine):
    """A second editor on the same engine (not through the proxy: it forwards POSTs only),
    configured with the engine's kind and URL only."""
    await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=capabilities(),
            initialization_options={
                "engine": "openai",
                "remoteUrl": f"http://127.0.0.1:{engine.port}",
                "maxTimeMs": 0,
                "prefetch": False,
                "maxTokens": 48,
            },
        )
    )
    yield
    await lsp_client.shutdown_session()


@pytest.mark.asyncio(loop_scope="module")
async def test_only_the_kind_and_url_set_the_engine_says_its_model(bare_client: LanguageClient):
    """llama-cpp-python's /v1/models names the model (its alias tells the FIM dialect); it
    does not tell its context, so the budget stays contextSize."""
    st = await wait_state(bare_client)
    assert st["state"] == "ready", st
    model = st["model"]
    assert model["model"] == ALIAS and model["modelFrom"] == "engine", model
    assert model["dialect"] == "qwen" and model["dialectFrom"] == "name"
    assert model["nCtxTold"] == 0 and model["nCtx"] == 4096
    text = EXAMPLE.read_text()
    uri = "file:///tmp/infill-e2e-remote/bare.py"
    open_doc(bare_client, uri, text)
    line = next(i for i, t in enumerate(text.split("\n")) if t.startswith("def is_even")) + 1
    assert "return n % 2 == 0" in await inline(bare_client, uri, line, 4)


@pytest.mark.asyncio(loop_scope="module")
async def test_completion_through_the_remote_engine(client: LanguageClient, proxy):
    st = await status(client)
    assert st["model"]["engine"] == "openai" and st["model"]["dialect"] == "qwen"
    assert st["model"]["tokens"] == "estimate" and st["model"]["redact"] is True
    text = EXAMPLE.read_text()
    uri = "file:///tmp/infill-e2e-remote/fibonacci.py"
    open_doc(client, uri, text)
    line = next(i for i, t in enumerate(text.split("\n")) if t.startswith("def is_even")) + 1
    answer = await inline(client, uri, line, 4)
    assert "return n % 2 == 0" in answer, answer
    body = proxy.bodies[-1]
    assert body["model"] == ALIAS and body["stream"] is True
    assert body["prompt"].startswith("<|fim_prefix|>") and "<|fim_middle|>" in body["prompt"]


@pytest.mark.asyncio(loop_scope="module")
async def test_secrets_are_redacted_before_they_leave_the_machine(client: LanguageClient, proxy):
    text = (
        f'OPENAI_KEY = "{SECRET}"\n'
        'DSN = "postgres://admin:Tr0ub4dor&3@db.internal.example:5432/app"\n'
        'OWNER = "jane.doe@corp-mail.com"\n\n\n'
        "def connect():\n    "
    )
    uri = "file:///tmp/infill-e2e-remote/settings.py"
    open_doc(client, uri, text)
    await inline(client, uri, 6, 4)
    sent = json.dumps(proxy.bodies[-1])
    assert SECRET not in sent and "Tr0ub4dor&3" not in sent and "jane.doe@corp-mail.com" not in sent
    assert "postgres://admin:" in sent and "def connect():" in sent  # the code itself is kept


@pytest.mark.asyncio(loop_scope="module")
async def test_a_dead_engine_is_reported_once_and_completions_resume(
    client: LanguageClient, engine: Engine
):
    text = EXAMPLE.read_text()
    uri = "file:///tmp/infill-e2e-remote/fault.py"
    open_doc(client, uri, text)
    line = next(i for i, t in enumerate(text.split("\n")) if t.startswith("def is_even")) + 1
    pending = asyncio.ensure_future(inline(client, uri, line, 4))
    await asyncio.sleep(0.3)
    engine.kill()  # mid-request
    assert await asyncio.wait_for(pending, 60) == ""
    for _ in range(5):  # while it is down: empty answers, fast, no new messages
        assert await asyncio.wait_for(inline(client, uri, line, 4), 10) == ""
    warnings = [m.message for m in client.messages if "paused" in m.message]
    assert len(warnings) == 1, client.messages
    assert (await status(client))["state"] == "ready"  # the server itself is fine
    engine.start()
    answer = ""
    deadline = time.monotonic() + 120
    while not answer and time.monotonic() < deadline:
        await asyncio.sleep(1)
        answer = await inline(client, uri, line, 4)
    assert "return n % 2 == 0" in answer, answer
    assert any("resumed" in m.message for m in client.messages)
