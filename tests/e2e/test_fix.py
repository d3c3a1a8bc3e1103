"""End to end: "Fix this function" from the real server process with the real default model,
driven over LSP the way an editor drives it (codeAction -> codeAction/resolve -> apply, or the
infill.fixFunction command -> workspace/applyEdit)."""

from __future__ import annotations

import asyncio

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from tests.e2e.lsp import SERVER, capabilities, open_doc, plain, status, wait_state
from tests.helpers.fix_cases import TOTAL

pytestmark = [pytest.mark.e2e, pytest.mark.model]

BUGGY = "import math\n\n\n" + TOTAL + "\n\ndef untouched():\n    return math.pi\n"
FUNCTION_LINES = (3, 15)  # total() spans lines 3..14
BUG_LINE = 11  # result = 1


def fix_capabilities() -> types.ClientCapabilities:
    caps = capabilities()
    caps.text_document.code_action = types.CodeActionClientCapabilities(
        data_support=True,
        resolve_support=types.ClientCodeActionResolveOptions(properties=["edit"]),
    )
    caps.workspace = types.WorkspaceClientCapabilities(
        apply_edit=True,
        workspace_edit=types.WorkspaceEditClientCapabilities(document_changes=True),
    )
    return caps


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER), scope="module")
async def client(lsp_client: LanguageClient):
    lsp_client.applied: list[types.ApplyWorkspaceEditParams] = []

    @lsp_client.feature(types.WORKSPACE_APPLY_EDIT)
    def apply_edit(params: types.ApplyWorkspaceEditParams):
        lsp_client.applied.append(params)
        return types.ApplyWorkspaceEditResult(applied=True)

    await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=fix_capabilities(),
            # Greedy, one candidate: deterministic, and quick enough for CI on 2 cores.
            initialization_options={"fixCandidates": 1},
        )
    )
    st = await wait_state(lsp_client)
    assert st["state"] == "ready", st
    yield
    await lsp_client.shutdown_session()


def actions_params(uri: str, line: int, diagnostics=()) -> types.CodeActionParams:
    where = types.Position(line=line, character=4)
    return types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        range=types.Range(start=where, end=where),
        context=types.CodeActionContext(diagnostics=list(diagnostics)),
    )


def apply(text: str, edits: list[types.TextEdit]) -> str:
    """Apply TextEdits the way an editor does (ASCII document: columns are characters)."""
    lines = text.split("\n")
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line) + 1)
    for e in sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character))[::-1]:
        a = offsets[e.range.start.line] + e.range.start.character
        b = offsets[e.range.end.line] + e.range.end.character
        text = text[:a] + e.new_text + text[b:]
    return text


@pytest.mark.asyncio(loop_scope="module")
async def test_offered_only_inside_a_function_with_the_right_kind(client: LanguageClient):
    uri = "file:///tmp/infill-e2e-fix/kinds.py"
    open_doc(client, uri, BUGGY)
    outside = await client.text_document_code_action_async(actions_params(uri, 0))
    assert not outside
    (action,) = await client.text_document_code_action_async(actions_params(uri, BUG_LINE))
    assert action.title == "Fix this function" and action.kind == "refactor.rewrite"
    assert action.edit is None  # computed lazily, in resolve
    diagnostic = types.Diagnostic(
        range=types.Range(start=types.Position(BUG_LINE, 4), end=types.Position(BUG_LINE, 14)),
        message="suspicious start value",
    )
    (quick,) = await client.text_document_code_action_async(
        actions_params(uri, BUG_LINE, [diagnostic])
    )
    assert quick.kind == "quickfix" and quick.data["diagnostics"] == [
        "line 9: suspicious start value"
    ]


@pytest.mark.asyncio(loop_scope="module")
async def test_resolve_gives_a_minimal_versioned_edit_that_parses(client: LanguageClient):
    uri = "file:///tmp/infill-e2e-fix/resolve.py"
    open_doc(client, uri, BUGGY)
    (action,) = await client.text_document_code_action_async(actions_params(uri, BUG_LINE))
    resolved = await client.code_action_resolve_async(action)
    assert resolved.edit is not None, client.messages[-1:]
    (change,) = resolved.edit.document_changes
    assert change.text_document.uri == uri and change.text_document.version == 1
    first, end = FUNCTION_LINES
    replaced = 0
    for edit in change.edits:
        assert first <= edit.range.start.line and edit.range.end.line <= end
        assert edit.range.start.character == 0
        replaced += edit.range.end.line - edit.range.start.line
    assert replaced < end - first  # hunks, not the whole function
    fixed = apply(BUGGY, change.edits)
    compile(fixed, "fixed.py", "exec")  # parses
    assert fixed.startswith("import math\n") and fixed.endswith(
        BUGGY[BUGGY.index("\n\ndef untouched") :]
    )
    assert ">>> total([1, 2, 3])" in fixed  # the docstring survives
    st = await status(client)
    assert st["lastFix"]["checks"] == 2 and st["lastFix"]["baselinePassed"] == 0


@pytest.mark.asyncio(loop_scope="module")
async def test_stale_version_gets_no_edit(client: LanguageClient):
    uri = "file:///tmp/infill-e2e-fix/stale.py"
    open_doc(client, uri, BUGGY)
    (action,) = await client.text_document_code_action_async(actions_params(uri, BUG_LINE))
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=BUGGY + "\n")],
        )
    )
    resolved = await client.code_action_resolve_async(action)
    assert resolved.edit is None
    assert "changed since the action was offered" in client.messages[-1].message


@pytest.mark.asyncio(loop_scope="module")
async def test_command_applies_the_fix_with_workspace_apply_edit(client: LanguageClient):
    uri = "file:///tmp/infill-e2e-fix/command.py"
    open_doc(client, uri, BUGGY)
    client.applied.clear()
    result = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(
            command="infill.fixFunction",
            arguments=[{"uri": uri, "start": [BUG_LINE, 4]}],
        )
    )
    result = plain(result)
    assert result["applied"] is True, result
    (params,) = client.applied
    (change,) = params.edit.document_changes
    assert change.text_document.version == 1
    compile(apply(BUGGY, change.edits), "fixed.py", "exec")


@pytest.mark.asyncio(loop_scope="module")
async def test_cancelled_resolve_returns_quickly_and_the_server_keeps_serving(
    client: LanguageClient,
):
    uri = "file:///tmp/infill-e2e-fix/cancel.py"
    open_doc(client, uri, BUGGY)
    (action,) = await client.text_document_code_action_async(actions_params(uri, BUG_LINE))
    pending = client.protocol.send_request_async("codeAction/resolve", action, msg_id="fix-cancel")
    await asyncio.sleep(1.0)  # the evidence has run; the model is at work
    client.protocol.notify("$/cancelRequest", types.CancelParams(id="fix-cancel"))
    try:
        resolved = await asyncio.wait_for(pending, 15)
        assert resolved.edit is None
        assert any("fix cancelled" in m.message for m in client.messages)
    except Exception as exc:  # a cancelled request may also be answered with an error
        assert "cancel" in str(exc).lower(), exc
    st = await status(client)
    assert st["state"] == "ready"
    (again,) = await client.text_document_code_action_async(actions_params(uri, BUG_LINE))
    assert again.title == "Fix this function"


@pytest.mark.asyncio(loop_scope="module")
async def test_a_failing_test_the_user_names_is_evidence_and_verifies_the_fix(
    client: LanguageClient, tmp_path
):
    # A method: its class has no docstring examples; only the named test shows the bug.
    from tests.unit.test_fix_named_test import OPS, TESTS

    (tmp_path / "shop").mkdir()
    (tmp_path / "shop" / "__init__.py").write_text("")
    (tmp_path / "shop" / "cart.py").write_text(OPS)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_cart.py").write_text(TESTS)
    (tmp_path / "pyproject.toml").write_text('[tool.pytest.ini_options]\npythonpath = ["."]\n')
    uri = (tmp_path / "shop" / "cart.py").as_uri()
    open_doc(client, uri, OPS)
    client.applied.clear()
    line = OPS.split("\n").index("        result = 1")
    result = plain(
        await client.workspace_execute_command_async(
            types.ExecuteCommandParams(
                command="infill.fixFunction",
                arguments=[
                    {"uri": uri, "start": [line, 8], "test": "tests/test_cart.py::test_empty"}
                ],
            )
        )
    )
    assert result["applied"] is True, result
    assert result["message"] == "Fix this function `total` — passes 1/1 named test"
    (params,) = client.applied
    (change,) = params.edit.document_changes
    fixed = apply(OPS, change.edits)
    assert "result = 0" in fixed and (tmp_path / "shop" / "cart.py").read_text() == OPS
    st = await status(client)
    assert st["lastFix"]["checks"] == 1 and st["lastFix"]["baselinePassed"] == 0


@pytest.mark.asyncio(loop_scope="module")
async def test_a_named_test_that_does_not_exist_is_reported(client: LanguageClient):
    uri = "file:///tmp/infill-e2e-fix/named.py"
    open_doc(client, uri, BUGGY)
    result = plain(
        await client.workspace_execute_command_async(
            types.ExecuteCommandParams(
                command="infill.fixFunction",
                arguments=[{"uri": uri, "start": [BUG_LINE, 4], "test": "tests/test_nope.py::t"}],
            )
        )
    )
    # The docstring examples still verify the fix; the message says why the test did not run.
    assert "named tests not run: test file 'tests/test_nope.py' not found" in result["message"]
