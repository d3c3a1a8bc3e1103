"""The model file truncated under a running server (a copy over it cut off, a cleanup), with a
real copy of the default model and the real server: the model in memory keeps serving (mapped
from the file, the next page access would SIGBUS the process), a reload that reads the file
fails with one message while the old model serves on, and the next start says the file is
damaged."""

from __future__ import annotations

import asyncio
import os
import shutil

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient

from lsp_server.model.default import QWEN_05B, cached_path
from tests.e2e.lsp import config, configure, initialize, inline, open_doc, status, wait_state

pytestmark = [pytest.mark.e2e, pytest.mark.model]

OPTIONS = {"prefetch": False, "warmUp": False, "maxTokens": 16, "contextSize": 2048}


@pytest.fixture
def model_copy(tmp_path):
    source = cached_path(QWEN_05B)
    source.exists() or pytest.skip("the default model is not joined yet")
    copy = tmp_path / "model.gguf"
    shutil.copyfile(source, copy)
    return copy


@pytest_lsp.fixture(config=config())
async def client(lsp_client: LanguageClient):
    yield
    await lsp_client.shutdown_session()


async def complete(client: LanguageClient, name: str, text: str) -> str:
    """A fresh document each time: the typing cache must not answer for the model."""
    uri = f"file:///tmp/infill-e2e-damaged/{name}.py"
    open_doc(client, uri, text)
    lines = text.split("\n")
    return await inline(client, uri, len(lines) - 1, len(lines[-1]))


def warnings(client: LanguageClient) -> list[str]:
    return [m.message for m in client.messages if "truncated" in m.message]


async def test_truncated_while_serving_the_model_in_memory_serves_on(
    client: LanguageClient, model_copy
):
    await initialize(client, {**OPTIONS, "modelPath": str(model_copy)})
    assert (await wait_state(client))["state"] == "ready"
    assert await complete(client, "before", "def add(a, b):\n    return ")
    os.truncate(model_copy, model_copy.stat().st_size // 2)
    # every weight is read again for this answer: from the file, it would be a SIGBUS
    assert await complete(client, "after", "def multiply(a, b):\n    return ")
    # contextSize reloads the model, which reads the file again
    configure(client, **{**OPTIONS, "modelPath": str(model_copy), "contextSize": 1024})
    for _ in range(100):
        if warnings(client):
            break
        await asyncio.sleep(0.1)
    (message,) = warnings(client)
    assert str(model_copy) in message and "keeps serving" in message
    assert "copy it again" in message
    st = await status(client)
    assert st["state"] == "ready" and st["model"]["path"] == str(model_copy)
    assert await complete(client, "reloaded", "def subtract(a, b):\n    return ")
    assert [m.type for m in client.messages if "truncated" in m.message] == [
        types.MessageType.Warning
    ]


async def test_the_next_start_says_the_file_is_damaged(client: LanguageClient, model_copy):
    os.truncate(model_copy, model_copy.stat().st_size // 2)
    await initialize(client, {**OPTIONS, "modelPath": str(model_copy)})
    st = await wait_state(client)
    assert st["state"] == "error"
    assert "file is truncated" in st["message"] and "damaged or incomplete" in st["message"]
    assert len(warnings(client)) == 1
    assert await complete(client, "refused", "x = ") == ""  # answered (empty), still serving
