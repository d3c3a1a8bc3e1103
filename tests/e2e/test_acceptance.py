"""End to end (issue 26): the real server and the real default model over LSP stdio. A suggestion
is accepted the way an editor does it (its item's command through workspace/executeCommand),
``infill/status`` counts it, and after the server stops ``infill-lsp stats`` shows it from the
statistics file (a scratch one: the user's cache is left alone)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import pytest_asyncio
from lsprotocol import types
from pytest_lsp import LanguageClient

from lsp_server.stats.store import STATS_ENV
from tests.e2e.lsp import config, initialize, inline_params, open_doc, plain, status, wait_state

pytestmark = [pytest.mark.e2e, pytest.mark.model]

ROOT = Path(__file__).resolve().parents[2]
TEXT = "def is_odd(n):\n    \n"


@pytest.fixture
def stats(tmp_path: Path) -> Path:
    return tmp_path / "stats.sqlite3"


@pytest_asyncio.fixture
async def client(stats: Path):
    """The test shuts the server down itself: the file is written at shutdown."""
    lsp = await config({STATS_ENV: str(stats)}).start()
    yield lsp
    await lsp.stop()


@pytest.mark.asyncio
async def test_an_accepted_suggestion_is_counted_and_stored(client: LanguageClient, stats: Path):
    result = await initialize(client, {"maxTokens": 32, "maxTimeMs": 0})
    commands = result.capabilities.execute_command_provider.commands
    assert {"infill.accepted", "infill.deleteStats"} <= set(commands)
    assert result.capabilities.text_document_sync.save  # didSave: the kept check at a save
    assert (await wait_state(client))["state"] == "ready"
    uri = "file:///tmp/infill-e2e/odd.py"
    open_doc(client, uri, TEXT)
    answer = await client.text_document_inline_completion_async(inline_params(uri, 1, 4))
    [item] = answer.items
    assert item.insert_text and item.command.command == "infill.accepted"
    # what an editor does on Tab: insert the text, then run the item's command
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[
                types.TextDocumentContentChangePartial(
                    range=types.Range(start=item.range.start, end=item.range.start),
                    text=item.insert_text,
                )
            ],
        )
    )
    counted = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=item.command.command, arguments=item.command.arguments)
    )
    assert plain(counted) == {"counted": True}
    acceptance = (await status(client))["acceptance"]
    session = acceptance["session"]
    assert (session["shown"], session["accepted"], session["rejected"]) == (1, 1, 0)
    assert session["charsAccepted"] == len(item.insert_text)
    assert acceptance["enabled"] is True and acceptance["path"] == str(stats)
    await client.shutdown_session()

    env = {**os.environ, STATS_ENV: str(stats)}
    run = [sys.executable, "-m", "lsp_server", "stats"]
    done = subprocess.run([*run, "--json"], capture_output=True, text=True, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    stored = json.loads(done.stdout)["all"]
    assert (stored["shown"], stored["accepted"], stored["rate"]) == (1, 1, 1.0)
    assert stored["charsAccepted"] == len(item.insert_text)
    table = subprocess.run([*run, "--by", "language"], capture_output=True, text=True, env=env)
    assert table.returncode == 0, table.stderr
    assert table.stdout.splitlines()[1].split()[:4] == ["python", "1", "1", "100.0%"]
    # nothing of the code is in the file
    assert b"is_odd" not in stats.read_bytes() and item.insert_text.encode() not in (
        stats.read_bytes()
    )
