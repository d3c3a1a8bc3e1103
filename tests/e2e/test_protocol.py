"""What the server advertises and how it negotiates, over real stdio and TCP (no model needed:
these answers come before the model has loaded)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.e2e.lsp import config, initialize

pytestmark = pytest.mark.e2e


@pytest_lsp.fixture(config=config())
async def client(lsp_client: LanguageClient):
    yield
    await lsp_client.shutdown_session()


async def test_capabilities_and_server_info(client: LanguageClient):
    result = await initialize(client)
    caps = result.capabilities
    assert result.server_info.name == "infill-lsp" and result.server_info.version
    assert caps.inline_completion_provider is not None
    assert caps.completion_provider is not None
    sync = caps.text_document_sync
    assert sync.change == types.TextDocumentSyncKind.Incremental
    assert caps.position_encoding == types.PositionEncodingKind.Utf16


async def test_utf8_is_negotiated_when_the_client_prefers_it(client: LanguageClient):
    # Neovim lists utf-8 first.
    result = await initialize(client, encodings=["utf-8", "utf-16", "utf-32"])
    assert result.capabilities.position_encoding == types.PositionEncodingKind.Utf8


def _frame(payload: dict) -> bytes:
    body = json.dumps(payload).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def _read_message(sock: socket.socket) -> dict:
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(4096)
    header, _, rest = data.partition(b"\r\n\r\n")
    length = int(header.split(b"Content-Length:")[1].split(b"\r\n")[0])
    while len(rest) < length:
        rest += sock.recv(4096)
    return json.loads(rest[:length])


def test_tcp_transport(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "lsp_server", "--tcp", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                sock = socket.create_connection(("127.0.0.1", port), timeout=30)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        with sock:
            sock.sendall(
                _frame(
                    {
                        "jsonrpc": "2.0",
                        "id": 1,
                        "method": "initialize",
                        "params": {"capabilities": {}},
                    }
                )
            )
            reply = _read_message(sock)
        assert reply["id"] == 1
        assert reply["result"]["serverInfo"]["name"] == "infill-lsp"
    finally:
        server.kill()
        server.wait()
