"""End to end: the real server process and the real embedded default model, over LSP stdio."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import LanguageClient

from lsp_server.syntax.tree import syntax_errors
from tests.e2e.lsp import (
    config,
    configure,
    initialize,
    inline,
    inline_params,
    open_doc,
    plain,
    status,
    wait_state,
)

pytestmark = [pytest.mark.e2e, pytest.mark.model]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fibonacci.py"


@pytest_lsp.fixture(config=config(), scope="module")
async def client(lsp_client: LanguageClient):
    lsp_client.pushed_states = []  # type: ignore[attr-defined]

    @lsp_client.feature("infill/statusChanged")
    def on_status(params):
        lsp_client.pushed_states.append(plain(params))  # type: ignore[attr-defined]

    # No time cap: what these tests check must not depend on how busy the machine is.
    await initialize(lsp_client, {"maxTokens": 64, "maxTimeMs": 0})
    # Settings right after initialized (Neovim sends them): the load under way takes them.
    configure(lsp_client, maxTokens=64)
    st = await wait_state(lsp_client)
    assert st["state"] == "ready", st
    yield
    await lsp_client.shutdown_session()


def python_doc(client: LanguageClient, name: str, text: str) -> str:
    uri = f"file:///tmp/infill-e2e/{name}"
    open_doc(client, uri, text)
    return uri


@pytest.mark.asyncio(loop_scope="module")
async def test_model_loaded_with_progress_and_verified(client: LanguageClient):
    st = await status(client)
    assert st["model"]["verified"] is True and st["model"]["dialect"] == "qwen"
    kinds = [type(v).__name__ for reports in client.progress_reports.values() for v in reports]
    assert kinds[0] == "WorkDoneProgressBegin" and kinds[-1] == "WorkDoneProgressEnd"
    # Status bars get every state change pushed, the model's description with "ready".
    pushed = client.pushed_states  # type: ignore[attr-defined]
    assert [p["state"] for p in pushed][:2] == ["loading", "ready"], pushed
    assert pushed[1]["model"]["dialect"] == "qwen"
    ready = [m for m in client.log_messages if m.message.startswith("model ready")]
    assert len(ready) == 1, "the model was loaded more than once"


@pytest.mark.asyncio(loop_scope="module")
async def test_inline_completion_on_python_example_parses(client: LanguageClient):
    text = EXAMPLE.read_text()
    uri = python_doc(client, "fibonacci.py", text)
    lines = text.split("\n")
    line = next(i for i, text_line in enumerate(lines) if text_line.startswith("def is_even")) + 1
    answer = await inline(client, uri, line, 4)
    assert answer.strip(), "the model offered nothing"
    offset = sum(len(text_line) + 1 for text_line in lines[:line]) + 4
    completed = text[:offset] + answer + text[offset:]
    assert syntax_errors("python", completed) == 0, completed
    assert "return" in answer
    st = await status(client)
    assert st["last"]["evaluatedTokens"] <= st["last"]["promptTokens"]


def change(client: LanguageClient, uri: str, version: int, text: str) -> None:
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
        )
    )


@pytest.mark.asyncio(loop_scope="module")
async def test_kv_prefix_is_reused_when_only_the_suffix_changes(client: LanguageClient):
    text = "def add(a, b):\n    \n\n\n# the end of the file\n"
    uri = python_doc(client, "add.py", text)
    await inline(client, uri, 1, 4)
    change(client, uri, 2, text.replace("the end", "end"))
    await inline(client, uri, 1, 4)
    last = (await status(client))["last"]
    assert last["promptTokens"] > 10
    # Only the tokens after the longest common prefix (the changed suffix) are evaluated again.
    assert last["evaluatedTokens"] < last["promptTokens"] - 5, last


@pytest.mark.asyncio(loop_scope="module")
async def test_typing_through_the_suggestion_is_served_without_the_model(client: LanguageClient):
    text = "def is_odd(n):\n    \n"
    uri = python_doc(client, "odd.py", text)
    suggestion = await inline(client, uri, 1, 4)
    assert len(suggestion) > 2 and "\n" not in suggestion[:2]
    calls = (await status(client))["totals"]["modelCalls"]
    typed = suggestion[:2]
    change(client, uri, 2, text.replace("    \n", "    " + typed + "\n", 1))
    rest = await inline(client, uri, 1, 4 + len(typed))
    st = await status(client)
    assert rest == suggestion[2:]
    assert st["last"]["finish"] == "cache" and st["totals"]["modelCalls"] == calls


@pytest.mark.asyncio(loop_scope="module")
async def test_single_line_mode_finishes_the_line_only(client: LanguageClient):
    text = "import os\n\nhome = os.path.join()\nprint(home)\n"
    uri = python_doc(client, "single.py", text)
    answer = await inline(client, uri, 2, len("home = os.path.join("))
    assert answer.strip() and "\n" not in answer
    assert not answer.endswith(")")  # the auto-closed bracket is already there


@pytest.mark.asyncio(loop_scope="module")
async def test_utf16_columns_after_emoji_and_cjk(client: LanguageClient):
    line = 'greeting = "😀 世界 😀"; size = len('
    text = f"{line})\n"
    uri = python_doc(client, "utf16.py", text)
    utf16_col = len(line.encode("utf-16-le")) // 2
    assert utf16_col == len(line) + 2  # each emoji is two UTF-16 units
    answer = await inline(client, uri, 0, utf16_col)
    # A code-point reading of the column would land past the end of the line and get nothing.
    assert answer.strip()
    assert "\n" not in answer


@pytest.mark.asyncio(loop_scope="module")
async def test_completion_fallback_returns_one_item_with_text_edit(client: LanguageClient):
    text = "def square(x):\n    return x * \n"
    uri = python_doc(client, "fallback.py", text)
    params = types.CompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        position=types.Position(line=1, character=15),
    )
    # This client supports inline completion: by default ("auto") the fallback stays quiet, so
    # the model does not run twice per keystroke.
    quiet = await client.text_document_completion_async(params)
    assert len(quiet.items) == 0
    configure(client, completionFallback="always")
    result = await client.text_document_completion_async(params)
    configure(client, completionFallback="auto")
    assert isinstance(result, types.CompletionList) and len(result.items) == 1
    item = result.items[0]
    assert item.text_edit.range.start == types.Position(line=1, character=15)
    assert item.text_edit.new_text.strip()


@pytest.mark.asyncio(loop_scope="module")
async def test_newer_request_for_same_document_supersedes_older(client: LanguageClient):
    text = "class Stack:\n    def __init__(self):\n        \n"
    uri = python_doc(client, "stack.py", text)
    first = asyncio.ensure_future(inline(client, uri, 2, 8))
    await asyncio.sleep(0.05)
    second = await inline(client, uri, 2, 8)
    assert await first == ""  # cancelled by the newer request: empty answer, not an error
    assert second.strip()


@pytest.mark.asyncio(loop_scope="module")
async def test_cancel_request_mid_generation(client: LanguageClient):
    text = "def bubble_sort(items):\n    \n"
    uri = python_doc(client, "cancel.py", text)
    params = inline_params(uri, 1, 4)
    # pytest-lsp's send_request_async is a coroutine: schedule it so the request goes out now.
    future = asyncio.ensure_future(
        client.protocol.send_request_async(
            types.TEXT_DOCUMENT_INLINE_COMPLETION, params, msg_id="cancel-me"
        )
    )
    # Soon after it went out: a machine that answers within 0.3 s (a short answer on a warm
    # cache) would otherwise finish before the cancel and leave nothing to cancel.
    await asyncio.sleep(0.05)
    client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="cancel-me"))
    with pytest.raises(Exception, match="cancel"):
        await asyncio.wait_for(future, 30)
    # The server keeps serving after a cancellation.
    assert (await inline(client, uri, 1, 4)).strip()


@pytest.mark.asyncio(loop_scope="module")
async def test_bad_inputs_get_empty_answers_and_server_keeps_serving(client: LanguageClient):
    # Unknown URI (never opened).
    assert await inline(client, "file:///nowhere/missing.py", 0, 0) == ""
    uri = python_doc(client, "small.py", "x = 1\n")
    with pytest.raises(JsonRpcException, match="line 40 is past the end"):  # InvalidParams
        await inline(client, uri, 40, 0)
    assert isinstance(await inline(client, uri, 0, 99), str)  # clamped to the line's end
    big = python_doc(client, "big.py", "x = 1\n" * 900_000)  # ~5 MB
    assert await inline(client, big, 10, 0) == ""
    binary = python_doc(client, "blob.py", "abc\x00\x01\x02def\n")
    assert await inline(client, binary, 0, 3) == ""
    # A language without a grammar falls back to plain line windows and still answers.
    uri_txt = "file:///tmp/infill-e2e/notes.cobol"
    open_doc(client, uri_txt, "IDENTIFICATION DIVISION.\nPROGRAM-ID. HELLO.\n", "cobol")
    await inline(client, uri_txt, 2, 0)  # must not raise
    st = await status(client)
    assert st["state"] == "ready"
    assert (await inline(client, uri, 1, 0)) is not None


@pytest.mark.asyncio(loop_scope="module")
async def test_invalid_settings_are_reported_and_defaults_kept(client: LanguageClient):
    configure(client, prefixTokens="many")
    for _ in range(50):
        if client.messages:
            break
        await asyncio.sleep(0.1)
    assert any("prefixTokens" in m.message for m in client.messages)
    assert (await status(client))["settings"]["prefixTokens"] == 1500


@pytest.mark.asyncio(loop_scope="module")
async def test_a_keystroke_reevaluates_only_the_tokens_after_the_anchor(client: LanguageClient):
    text = EXAMPLE.read_text()
    lines = text.split("\n")
    line = next(i for i, text_line in enumerate(lines) if text_line.startswith("def is_even")) + 1
    uri = python_doc(client, "keystroke.py", text)
    await inline(client, uri, line, 4)
    offset = sum(len(text_line) + 1 for text_line in lines[:line]) + 4
    # A character the suggestion does not start with: the typing cache cannot answer.
    typed = "_"
    change(client, uri, 2, text[:offset] + typed + text[offset:])
    await inline(client, uri, line, 4 + len(typed))
    last = (await status(client))["last"]
    assert last["finish"] != "cache" and last["promptTokens"] > 100, last
    # The prefix window, the suffix and the middle marker are kept in the KV cache: only the
    # cursor line's changed tail is evaluated.
    assert last["evaluatedTokens"] <= 0.1 * last["promptTokens"], last


@pytest.mark.asyncio(loop_scope="module")
async def test_accepting_a_suggestion_is_answered_from_the_prefetch(client: LanguageClient):
    text = "def is_odd(n):\n    \n\n\ndef is_prime(n):\n    \n"
    uri = python_doc(client, "prefetch.py", text)
    suggestion = await inline(client, uri, 1, 4)
    assert suggestion.strip()
    before = await status(client)
    for _ in range(600):  # the prefetch runs in the background after the answer
        st = await status(client)
        if st["totals"]["prefetches"] > before["totals"]["prefetches"]:
            break
        await asyncio.sleep(0.1)
    else:
        pytest.fail(f"no prefetch finished: {st}")
    offset = len("def is_odd(n):\n    ")
    accepted = text[:offset] + suggestion + text[offset:]
    change(client, uri, 2, accepted)
    end = offset + len(suggestion)
    line = accepted.count("\n", 0, end)
    character = end - (accepted.rfind("\n", 0, end) + 1)
    answer = await inline(client, uri, line, character)
    st = await status(client)
    assert st["last"]["finish"] == "cache", st["last"]
    assert st["totals"]["modelCalls"] == before["totals"]["modelCalls"]
    completed = accepted[:end] + answer + accepted[end:]
    assert syntax_errors("python", completed) == 0, completed
