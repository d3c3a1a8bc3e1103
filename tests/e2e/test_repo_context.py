"""End to end: the real server indexes its workspace folder and a completion in one file gets
another file's definition in its prompt (read from the prompt log the logPrompts setting
turns on), in the model's repository-level format; secrets never do."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from tests.e2e.lsp import SERVER, capabilities, configure, inline, open_doc, status, wait_state
from tests.helpers.fixture_repo import MAIN, make_repo

pytestmark = [pytest.mark.e2e, pytest.mark.model]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    root = make_repo(tmp_path_factory.mktemp("ws") / "shop")
    (root / "app" / ".env").write_text("def leaked_secret():\n    return 'sk-live'\n")
    return root


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER), scope="module")
async def client(lsp_client: LanguageClient, workspace: Path):
    await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=capabilities(),
            initialization_options={
                "logPrompts": True,
                "maxTimeMs": 0,
                "prefetch": False,
                "repoContext": "on",  # "auto" gives an Instruct model (the embedded one) none
            },
            root_uri=workspace.as_uri(),
            workspace_folders=[types.WorkspaceFolder(uri=workspace.as_uri(), name="shop")],
        )
    )
    st = await wait_state(lsp_client)
    assert st["state"] == "ready", st
    for _ in range(100):
        if (await status(lsp_client))["index"]["files"]:
            break
        await asyncio.sleep(0.1)
    yield
    await lsp_client.shutdown_session()
    stores = Path(os.environ["INFILL_LSP_INDEX_DIR"]).glob("shop-*.sqlite")
    assert list(stores), "the index was not persisted (tests/conftest.py sets the folder)"


def prompts(client: LanguageClient) -> list[str]:
    return [m.message for m in client.log_messages if m.message.startswith("prompt: ")]


@pytest.mark.asyncio(loop_scope="module")
async def test_a_completion_gets_the_definition_from_another_file(
    client: LanguageClient, workspace: Path
):
    st = await status(client)
    assert st["index"]["files"] == 7 and st["index"]["symbols"] >= 10, st["index"]
    text = MAIN.replace("    return user\n", "    if user.is_admin():\n        ")
    uri = (workspace / "app" / "main.py").as_uri()
    open_doc(client, uri, text)
    lines = text.split("\n")
    await inline(client, uri, len(lines) - 1, 8)
    prompt = prompts(client)[-1]
    assert "<|repo_name|>shop\n<|file_sep|>app/utils.py\ndef slugify(text: str) -> str:" in prompt
    assert "<|file_sep|>app/models.py\nclass User:" in prompt
    assert "def is_admin(self) -> bool:" in prompt
    assert "<|file_sep|>app/main.py\n<|fim_prefix|>" in prompt
    assert "leaked_secret" not in prompt and "sk-live" not in prompt
    st = await status(client)
    assert st["last"]["snippets"] >= 3 and st["repoContextActive"] is True


@pytest.mark.asyncio(loop_scope="module")
async def test_a_file_created_on_disk_is_picked_up(client: LanguageClient, workspace: Path):
    (workspace / "app" / "billing.py").write_text(
        "def charge_customer(amount_cents: int, currency: str = 'EUR') -> str:\n"
        "    return f'{amount_cents} {currency}'\n"
    )
    for _ in range(100):
        if (await status(client))["index"]["updates"]:
            break
        await asyncio.sleep(0.1)
    text = "from app.billing import charge_customer\n\n\ndef checkout(total):\n    receipt = "
    uri = (workspace / "app" / "checkout.py").as_uri()
    open_doc(client, uri, text)
    await inline(client, uri, 4, 14)
    assert "<|file_sep|>app/billing.py\ndef charge_customer(" in prompts(client)[-1]


@pytest.mark.asyncio(loop_scope="module")
async def test_auto_gives_the_embedded_instruct_model_no_snippets(
    client: LanguageClient, workspace: Path
):
    """The default, repoContext "auto": the index stays, but the embedded (Instruct) model's
    prompts carry no other file (B4 measured it lower with them); "on" brings them back."""
    configure(client, repoContext="auto")
    for _ in range(50):
        if (await status(client))["settings"]["repoContext"] == "auto":
            break
        await asyncio.sleep(0.1)
    st = await status(client)
    assert st["repoContextActive"] is False and st["index"]["files"] >= 7
    text = MAIN.replace("    return user\n", "    if user.is_admin():\n        ")
    uri = (workspace / "app" / "main.py").as_uri()
    open_doc(client, uri, text)
    await inline(client, uri, len(text.split("\n")) - 1, 8)
    prompt = prompts(client)[-1]
    assert "<|file_sep|>" not in prompt and "<|fim_prefix|>" in prompt
    assert (await status(client))["last"]["snippets"] == 0
    configure(client, repoContext="on")
    for _ in range(50):
        if (await status(client))["repoContextActive"]:
            break
        await asyncio.sleep(0.1)
    assert (await status(client))["repoContextActive"] is True
