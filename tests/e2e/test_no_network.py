"""End to end: with the in-process model (the default), the server never opens a network
socket -- completions, the fix action and the workspace index included. The server runs with
a sitecustomize that makes every AF_INET/AF_INET6 socket fail and records the attempt."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from tests.e2e.lsp import SERVER, capabilities, inline, open_doc, plain, wait_state
from tests.helpers.fix_cases import TOTAL

pytestmark = [pytest.mark.e2e, pytest.mark.model]

GUARD = Path(tempfile.mkdtemp(prefix="infill-no-network-"))
ATTEMPTS = GUARD / "attempts.log"
(GUARD / "sitecustomize.py").write_text(
    f"""
import socket, traceback
_real = socket.socket
class _Guarded(_real):
    def __init__(self, family=socket.AF_INET, *args, **kwargs):
        if family in (socket.AF_INET, socket.AF_INET6):
            with open({str(ATTEMPTS)!r}, "a") as fh:
                fh.write("".join(traceback.format_stack(limit=8)) + "\\n---\\n")
            raise OSError("network sockets are forbidden in this test")
        super().__init__(family, *args, **kwargs)
socket.socket = _Guarded
"""
)
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(GUARD), os.environ.get("PYTHONPATH", "")])}


@pytest_lsp.fixture(
    config=ClientServerConfig(server_command=SERVER, server_env=ENV), scope="module"
)
async def client(lsp_client: LanguageClient, repo: Path):
    @lsp_client.feature(types.WORKSPACE_APPLY_EDIT)
    def apply_edit(_params: types.ApplyWorkspaceEditParams):
        return types.ApplyWorkspaceEditResult(applied=True)

    await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=capabilities(),
            initialization_options={"maxTimeMs": 0, "fixCandidates": 1},
            root_uri=repo.as_uri(),
        )
    )
    st = await wait_state(lsp_client)
    assert st["state"] == "ready", st
    yield
    await lsp_client.shutdown_session()


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    from tests.helpers.fixture_repo import make_repo

    return make_repo(tmp_path_factory.mktemp("offline") / "repo")


@pytest.mark.asyncio(loop_scope="module")
async def test_completions_fixes_and_indexing_open_no_network_socket(
    client: LanguageClient, repo: Path
):
    uri = (repo / "app" / "total.py").as_uri()
    open_doc(client, uri, TOTAL)
    await inline(client, uri, 9, 4)
    result = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(
            command="infill.fixFunction", arguments=[{"uri": uri, "start": [8, 4]}]
        )
    )
    assert "total" in plain(result)["message"]
    assert not ATTEMPTS.exists(), ATTEMPTS.read_text()
    # The guard itself works: the same interpreter setup records a connection attempt.
    probe = (
        "import socket\ntry:\n    socket.create_connection(('127.0.0.1', 9))\n"
        "except OSError:\n    pass\n"
    )
    subprocess.run([sys.executable, "-c", probe], env=ENV, check=True)
    assert ATTEMPTS.exists()
