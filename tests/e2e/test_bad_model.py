"""A bad model setting gets one clear message; the server keeps answering (empty, quickly)."""

from __future__ import annotations

import asyncio

import pytest
import pytest_lsp
from pytest_lsp import LanguageClient

from tests.e2e.lsp import config, initialize, inline, open_doc, status, wait_state
from tests.helpers.gguf_writer import vocab_kv, write_gguf

pytestmark = pytest.mark.e2e


@pytest_lsp.fixture(config=config())
async def client(lsp_client: LanguageClient):
    yield
    await lsp_client.shutdown_session()


async def wait_message(client: LanguageClient) -> str:
    for _ in range(100):
        if client.messages:
            return client.messages[-1].message
        await asyncio.sleep(0.1)
    raise AssertionError("no window/showMessage received")


async def still_serving(client: LanguageClient) -> None:
    uri = "file:///tmp/infill-e2e/still.py"
    open_doc(client, uri, "x = 1\n")
    assert await inline(client, uri, 1, 0) == ""
    assert (await status(client))["state"] == "error"


async def test_model_path_that_does_not_exist(client: LanguageClient, tmp_path):
    missing = tmp_path / "nope.gguf"
    await initialize(client, {"modelPath": str(missing)})
    st = await wait_state(client)
    assert st["state"] == "error"
    message = await wait_message(client)
    assert "nope.gguf" in message and "not" in message.lower()
    await still_serving(client)


async def test_gguf_without_fim_tokens_is_refused(client: LanguageClient, tmp_path):
    plain = write_gguf(
        tmp_path / "chat-only.gguf",
        vocab_kv(["a", "b", "<|endoftext|>"], eos="<|endoftext|>"),
    )
    await initialize(client, {"modelPath": str(plain)})
    st = await wait_state(client)
    assert st["state"] == "error"
    message = await wait_message(client)
    assert "fill-in-the-middle" in message
    await still_serving(client)


async def test_not_a_gguf_file(client: LanguageClient, tmp_path):
    bogus = tmp_path / "model.gguf"
    bogus.write_bytes(b"PK\x03\x04 definitely a zip")
    await initialize(client, {"modelPath": str(bogus)})
    assert (await wait_state(client))["state"] == "error"
    assert "GGUF" in await wait_message(client)
    await still_serving(client)
