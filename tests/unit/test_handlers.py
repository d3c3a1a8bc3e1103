"""The LSP handlers and the services' policy, on a real pygls server with a fake engine: the
typing-through cache, prefetch, the completion fallback, CRLF, engine failures, stale fix
requests, settings and didClose. (The real model is exercised end to end in tests/e2e.)"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer
from pygls.workspace import Workspace

from lsp_server.engine.base import EngineError
from lsp_server.handlers import register
from lsp_server.loader import LoadedModel
from lsp_server.services import Services
from tests.helpers.fake_engine import FakeEngine, RecordingClient

URI = "file:///w/calc.py"
DOC = "def add(a, b):\n    return \n"
CURSOR = types.Position(line=1, character=11)  # after "return "


class Harness:
    """One server, its services, a fake engine; requests go through the registered handlers."""

    def __init__(self, engine: FakeEngine | None = None, inline: bool = True, **settings: Any):
        self.server = LanguageServer("infill-lsp-test", "0")
        self.client = RecordingClient()
        self.services = Services.create(self.client, lambda: self.server.workspace)
        register(self.server, self.services)
        text_caps = types.TextDocumentClientCapabilities(
            inline_completion=types.InlineCompletionClientCapabilities() if inline else None,
            completion=types.CompletionClientCapabilities(),
        )
        self.server.protocol.client_capabilities = types.ClientCapabilities(text_document=text_caps)
        self.server.protocol._workspace = Workspace("file:///w")
        self.call(types.INITIALIZE, _init(settings))
        self.engine = engine or FakeEngine(answer=lambda _prompt: "a + b")
        self.services.model.loaded = LoadedModel(None, self.engine)
        self.services.model.state = "ready"
        self.version = 1

    def call(self, method: str, params: Any) -> Any:
        return self.server.protocol.fm.features[method](params)

    def open(self, text: str = DOC, uri: str = URI) -> None:
        item = types.TextDocumentItem(uri=uri, language_id="python", version=1, text=text)
        self.server.workspace.put_text_document(item)

    def type(self, text: str, at: types.Position, uri: str = URI) -> None:
        self.version += 1
        change = types.TextDocumentContentChangePartial(
            range=types.Range(start=at, end=at), text=text
        )
        ident = types.VersionedTextDocumentIdentifier(uri=uri, version=self.version)
        self.server.workspace.update_text_document(ident, change)

    async def inline(self, at: types.Position = CURSOR, uri: str = URI) -> str:
        params = types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=at,
            context=types.InlineCompletionContext(
                trigger_kind=types.InlineCompletionTriggerKind.Automatic
            ),
        )
        result = await self.call(types.TEXT_DOCUMENT_INLINE_COMPLETION, params)
        return result.items[0].insert_text if result.items else ""

    async def idle(self) -> None:
        """Let prefetches finish."""
        await asyncio.gather(*list(self.services.completions._background))

    @property
    def totals(self) -> dict[str, int]:
        return self.services.completions.totals


def _init(settings: dict[str, Any]) -> types.InitializeParams:
    return types.InitializeParams(
        capabilities=types.ClientCapabilities(), initialization_options=settings
    )


def _right(position: types.Position, n: int) -> types.Position:
    return types.Position(line=position.line, character=position.character + n)


async def test_typing_through_a_suggestion_is_answered_without_the_model():
    h = Harness(prefetch=False)
    h.open()
    assert await h.inline() == "a + b"
    assert len(h.engine.prompts) == 1
    h.type("a", CURSOR)
    assert await h.inline(_right(CURSOR, 1)) == " + b"
    assert len(h.engine.prompts) == 1  # the cache answered
    assert h.totals["cacheHits"] == 1 and h.totals["modelCalls"] == 1
    h.type("-", _right(CURSOR, 1))  # a different edit: the cache must miss
    await h.inline(_right(CURSOR, 2))
    assert len(h.engine.prompts) == 2


async def test_prefetch_computes_what_follows_an_accepted_suggestion():
    answers = iter(["a + b", "  # done"])
    h = Harness(FakeEngine(answer=lambda _prompt: next(answers)))
    h.open()
    assert await h.inline() == "a + b"
    await h.idle()
    assert h.totals["prefetches"] == 1
    assert "return a + b" in h.engine.prompts[1]  # the prompt with the suggestion accepted
    h.type("a + b", CURSOR)
    await h.inline(_right(CURSOR, 5))
    assert h.totals["cacheHits"] == 1 and len(h.engine.prompts) == 2


async def test_no_prefetch_when_switched_off():
    h = Harness(prefetch=False)
    h.open()
    await h.inline()
    await h.idle()
    assert h.totals["prefetches"] == 0 and len(h.engine.prompts) == 1


async def test_a_newer_request_cancels_the_running_one():
    import threading

    gate = threading.Event()
    h = Harness(FakeEngine(answer=lambda _p: "a + b", gate=gate), prefetch=False)
    h.open()
    first = asyncio.ensure_future(h.inline())
    await asyncio.sleep(0.05)
    gate.set()
    second = await h.inline()
    assert await first == "" and second == "a + b"


async def test_crlf_documents_get_crlf_answers_from_the_model_and_the_cache():
    h = Harness(FakeEngine(answer=lambda _p: "\n    x = 1\n    return x"), prefetch=False)
    h.open("def f():\r\n    \r\n")
    at = types.Position(line=1, character=4)
    assert await h.inline(at) == "\r\n    x = 1\r\n    return x"
    h.type("\r\n", at)
    assert await h.inline(types.Position(line=2, character=0)) == "    x = 1\r\n    return x"
    assert h.totals["cacheHits"] == 1


async def test_fallback_answers_only_clients_without_inline_completion():
    params = types.CompletionParams(
        text_document=types.TextDocumentIdentifier(uri=URI), position=CURSOR
    )
    with_inline = Harness()
    with_inline.open()
    quiet = await with_inline.call(types.TEXT_DOCUMENT_COMPLETION, params)
    assert quiet.items == [] and not quiet.is_incomplete and with_inline.engine.prompts == []
    without = Harness(inline=False)
    without.open()
    answer = await without.call(types.TEXT_DOCUMENT_COMPLETION, params)
    assert [i.label for i in answer.items] == ["a + b"] and answer.is_incomplete
    never = Harness(inline=False, completionFallback="never")
    never.open()
    assert (await never.call(types.TEXT_DOCUMENT_COMPLETION, params)).items == []


@pytest.mark.parametrize("unreachable", [True, False])
async def test_an_engine_failure_costs_the_suggestion_not_the_server(unreachable):
    failing = EngineError("engine down", unreachable=unreachable)
    h = Harness(FakeEngine(answer=lambda _p: "a + b", fail=failing))
    h.open()
    assert await h.inline() == ""
    assert h.services.completions.last["finish"] == "unavailable"
    # an outage is told once by the engine's health report, not logged per request
    assert any("completion failed" in m for m in h.client.logs) is not unreachable
    h.engine.fail = RuntimeError("a bug of ours")
    assert await h.inline() == ""  # still answered
    h.engine.fail = None
    assert await h.inline() == "a + b"


async def test_requests_before_the_model_or_outside_the_document_get_a_reason():
    h = Harness()
    h.services.model.loaded = None
    h.services.model.state = "loading"
    h.open()
    assert await h.inline() == ""
    assert h.services.completions.last == {"request": 1, "finish": "skipped", "reason": "loading"}
    h.services.model.loaded = LoadedModel(None, h.engine)
    with pytest.raises(JsonRpcInvalidParams, match="line 9 is past the end"):
        await h.inline(types.Position(line=9, character=0))
    assert await h.inline(types.Position(line=0, character=99)) != ""  # clamped to the line end
    assert await h.inline(uri="file:///w/unopened.py") == ""
    assert h.services.completions.last["reason"] == "document is not open"


async def test_settings_are_held_once_and_bad_ones_are_told():
    h = Harness(prefetch=False)
    h.open()
    await h.inline()
    change = types.DidChangeConfigurationParams(
        settings={"infill": {"maxTokens": 7, "prefixTokens": "lots"}}
    )
    h.call(types.WORKSPACE_DID_CHANGE_CONFIGURATION, change)
    assert h.services.config.settings.max_tokens == 7
    assert h.services.config.settings.prefix_tokens == 1500
    assert any("prefixTokens" in m for m in h.client.told)
    h.type("a", CURSOR)
    await h.inline(_right(CURSOR, 1))
    assert h.totals["cacheHits"] == 0  # suggestions made under other settings are not reused
    status = h.call("infill/status", None)
    assert status["settings"]["maxTokens"] == 7 and status["state"] == "ready"


async def test_did_close_frees_the_documents_state():
    h = Harness(prefetch=False)
    h.open()
    await h.call(types.TEXT_DOCUMENT_DID_OPEN, _open_params())
    await h.inline()
    documents = h.services.documents
    assert documents.trees._parsed and documents.anchors._anchors
    h.call(types.TEXT_DOCUMENT_DID_CLOSE, _close_params())
    assert not documents.trees._parsed and not documents.anchors._anchors
    assert not h.services.completions.cache._entries
    assert h.engine.forgotten == ["/w/calc.py"]  # and the engine's parked state of it


def _open_params() -> types.DidOpenTextDocumentParams:
    item = types.TextDocumentItem(uri=URI, language_id="python", version=1, text=DOC)
    return types.DidOpenTextDocumentParams(text_document=item)


def _close_params() -> types.DidCloseTextDocumentParams:
    return types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=URI))


def _code_action_params(line: int) -> types.CodeActionParams:
    at = types.Position(line=line, character=4)
    return types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=URI),
        range=types.Range(start=at, end=at),
        context=types.CodeActionContext(diagnostics=[]),
    )


async def test_a_fix_offered_for_an_older_version_is_refused():
    h = Harness()
    h.open()
    [action] = h.call(types.TEXT_DOCUMENT_CODE_ACTION, _code_action_params(1))
    # this client cannot resolve edits: the action carries the command and its target
    assert action.title == "Fix this function" and action.command.command == "infill.fixFunction"
    [target] = action.command.arguments
    assert target["version"] == 1
    action.data = target  # as a client that resolves would send it back
    h.type("x", CURSOR)
    resolved = await h.call(types.CODE_ACTION_RESOLVE, action)
    assert resolved.edit is None
    assert any("changed since the action was offered" in m for m in h.client.told)
    assert h.engine.prompts == []  # refused before the model ran


async def test_no_fix_is_offered_outside_a_function_and_none_runs_before_the_model():
    h = Harness()
    h.open("x = 1\n\ndef f():\n    return 2\n")
    assert h.call(types.TEXT_DOCUMENT_CODE_ACTION, _code_action_params(0)) is None
    h.services.model.loaded = None
    h.services.model.state = "loading"
    result = await h.server.protocol.fm.commands["infill.fixFunction"](
        {"uri": URI, "start": [3, 4]}
    )
    assert result == {"applied": False, "message": "the model is not ready (loading)"}
    for bad, why in [
        ("not a target", "expected one argument"),
        ({"uri": URI}, "malformed fix request"),
        ({"uri": URI, "start": [-1, 0]}, "negative position"),
        ({"uri": URI, "start": [40, 0]}, "line 40 is past the end"),
    ]:
        with pytest.raises(JsonRpcInvalidParams, match=why):
            await h.server.protocol.fm.commands["infill.fixFunction"](bad)


async def test_the_fix_command_takes_its_arguments_as_pygls_passes_them():
    """workspace/executeCommand goes through pygls' argument preparation (which inspects the
    handler's annotations) before the handler runs."""
    from pygls.protocol.language_server import _prepare_command_arguments

    h = Harness()
    h.services.model.loaded = None
    h.services.model.state = "loading"
    handler = h.server.protocol.fm.commands["infill.fixFunction"]
    target = {"uri": URI, "start": [1, 4]}
    params = types.ExecuteCommandParams(command="infill.fixFunction", arguments=[target, "why"])
    args, kwargs = _prepare_command_arguments(handler, params, h.server.protocol._converter)
    assert args == (target, "why") and kwargs == {}
    result = await handler(*args, **kwargs)
    assert result["message"] == "the model is not ready (loading)"


async def test_a_reload_lets_go_of_the_old_engine():
    import gc
    import weakref

    h = Harness(prefetch=False)
    h.open()
    await h.inline()
    old = weakref.ref(h.engine)
    jobs: list[object] = []

    def submit(job):  # the file work is done at once; the new model's load never finishes
        jobs.append(job)
        return _done() if len(jobs) == 1 else _never()

    h.services.model.worker.submit = submit
    h.services.model.start_load()
    await asyncio.sleep(0.05)
    h.engine = None
    gc.collect()
    assert old() is None and h.services.model.state == "loading"


def _never():
    import concurrent.futures

    return concurrent.futures.Future()


def _done():
    future = _never()
    future.set_result(None)
    return future


def _notify(h: Harness, method: str, params: Any) -> None:
    """A notification as it arrives over the wire: through pygls' own deserialisation."""
    message = {"jsonrpc": "2.0", "method": method, "params": params}
    h.server.protocol.handle_message(h.server.protocol.structure_message(message))


def _cursor(line: int, character: int, uri: str = URI) -> dict[str, Any]:
    return {"textDocument": {"uri": uri}, "position": {"line": line, "character": character}}


async def test_the_cursor_signal_warms_the_prompt_and_the_request_finds_it():
    h = Harness(prefetch=False)
    h.open("def add(a, b):\n    return \n\n\ndef sub(a, b):\n    return \n")
    _notify(h, "infill/cursor", _cursor(5, 11))
    await h.idle()
    assert h.totals["warmups"] == 1 and h.totals["warmupsDone"] == 1
    assert len(h.engine.warmed) == 1
    at = types.Position(line=5, character=11)
    assert await h.inline(at) == "a + b"
    assert h.engine.prompts == h.engine.warmed  # the request's prompt is the one warmed


async def test_vscode_light_bulb_requests_are_a_cursor_signal_too():
    h = Harness(prefetch=False)
    h.open()
    params = _code_action_params(1)
    params.context.trigger_kind = types.CodeActionTriggerKind.Automatic
    h.call(types.TEXT_DOCUMENT_CODE_ACTION, params)
    await h.idle()
    assert h.totals["warmups"] == 1


async def test_no_warm_up_where_it_cannot_help():
    h = Harness(prefetch=False)
    h.open()
    _notify(h, "infill/cursor", _cursor(0, 0, uri="file:///w/closed.py"))  # not open
    _notify(h, "infill/cursor", _cursor(99, 0))  # past the end
    _notify(h, "infill/cursor", {"position": "nonsense"})  # malformed: ignored
    await h.idle()
    assert await h.inline() == "a + b"
    _notify(h, "infill/cursor", _cursor(1, 11))  # where a suggestion was just served
    await h.idle()
    off = Harness(warmUp=False)
    off.open()
    _notify(off, "infill/cursor", _cursor(1, 11))
    await off.idle()
    assert h.totals["warmups"] == 0 and off.totals["warmups"] == 0


async def test_a_request_cancels_a_running_warm_up():
    import threading

    gate = threading.Event()
    h = Harness(FakeEngine(answer=lambda _p: "a + b", gate=gate), prefetch=False)
    h.open()
    _notify(h, "infill/cursor", _cursor(1, 4))
    await asyncio.sleep(0.05)  # the warm-up holds the worker
    request = asyncio.ensure_future(h.inline())
    await asyncio.sleep(0.05)
    gate.set()
    assert await request == "a + b"
    await h.idle()
    assert h.totals["warmups"] == 1 and h.totals["warmupsDone"] == 0


LONG = "def f(x):\n" + "".join(f"    v{i} = x + {i}\n" for i in range(20)) + "    return \n"
LONG_AT = types.Position(line=21, character=11)


async def test_a_jump_is_answered_from_a_short_window_and_the_full_one_follows(monkeypatch):
    from lsp_server.services import completions

    monkeypatch.setattr(completions, "CATCH_UP_AFTER_S", 0.05)
    h = Harness(prefetch=False, jumpWindowTokens=20, suffixTokens=0)
    h.open(LONG)
    assert await h.inline(LONG_AT) == "a + b"
    assert h.services.completions.last["window"] == "jump"
    short = h.engine.prompts[-1]
    assert "v0 = x" not in short and "v19 = x" in short  # only the lines near the cursor
    await asyncio.sleep(0.1)
    await h.idle()
    assert h.totals["jumps"] == 1 and h.totals["catchUps"] == 1
    assert "v0 = x" in h.engine.warmed[-1]  # the full window, evaluated in idle time
    h.type("z", LONG_AT)  # not what was suggested: the model runs, on the full window now
    await h.inline(_right(LONG_AT, 1))
    assert h.services.completions.last["window"] == "full"
    assert "v0 = x" in h.engine.prompts[-1]


async def test_a_request_before_the_catch_up_keeps_the_short_window(monkeypatch):
    from lsp_server.services import completions

    monkeypatch.setattr(completions, "CATCH_UP_AFTER_S", 0.2)
    h = Harness(prefetch=False, jumpWindowTokens=20, suffixTokens=0)
    h.open(LONG)
    await h.inline(LONG_AT)
    h.type("z", LONG_AT)
    await h.inline(_right(LONG_AT, 1))  # the user types on: the short window's cache is kept
    assert h.services.completions.last["window"] == "jump"
    await asyncio.sleep(0.3)
    await h.idle()
    # the first answer's catch-up was abandoned (a request came); the second one's ran
    assert h.totals["catchUps"] == 1 and len(h.engine.warmed) == 1
    assert "vz" not in h.engine.warmed[0] and "return z" in h.engine.warmed[0]


async def test_a_cursor_signal_during_a_request_does_not_cancel_it():
    """VS Code sends infill/cursor ~150 ms after each key, while that key's request may
    still run: the warm-up must wait its turn, never cancel the request."""
    import threading

    gate = threading.Event()
    h = Harness(FakeEngine(answer=lambda _p: "a + b", gate=gate), prefetch=False)
    h.open("def add(a, b):\n    return \n" + "\n" * 60 + "def sub(a, b):\n    return \n")
    request = asyncio.ensure_future(h.inline())
    await asyncio.sleep(0.05)
    _notify(h, "infill/cursor", _cursor(63, 11))  # far enough to be warmed
    await asyncio.sleep(0.05)
    gate.set()
    assert await request == "a + b"
    await h.idle()


async def test_a_warm_up_leaves_the_anchor_of_the_place_being_typed_at():
    h = Harness(prefetch=False)
    text = "def add(a, b):\n    return \n" + "\n" * 60 + "def sub(a, b):\n    return \n"
    h.open(text)
    await h.inline()
    anchors = dict(h.services.documents.anchors._anchors)
    _notify(h, "infill/cursor", _cursor(63, 11))
    await h.idle()
    assert h.totals["warmups"] == 1
    assert dict(h.services.documents.anchors._anchors) == anchors
    _notify(h, "infill/cursor", _cursor(5, 0))  # near the last request: its window is cached
    await h.idle()
    assert h.totals["warmups"] == 1


async def test_a_cursor_signal_elsewhere_abandons_the_catch_up(monkeypatch):
    from lsp_server.services import completions

    monkeypatch.setattr(completions, "CATCH_UP_AFTER_S", 0.1)
    h = Harness(prefetch=False, jumpWindowTokens=20, suffixTokens=0)
    h.open(LONG + "\n" * 60 + "def g():\n    return \n")
    await h.inline(LONG_AT)
    _notify(h, "infill/cursor", _cursor(83, 11))  # the user looks elsewhere
    await asyncio.sleep(0.2)
    await h.idle()
    assert h.totals["jumps"] == 1 and h.totals["catchUps"] == 0


def test_outside_the_server_every_request_gets_the_full_window():
    """The jump window needs the server's idle-time catch-up: the CLI and the labs never
    shorten a prompt."""
    from lsp_server.completion import Completer
    from lsp_server.context.types import Snapshot
    from lsp_server.engine.base import CancelToken
    from lsp_server.settings import Settings

    engine = FakeEngine(answer=lambda _p: "x")
    settings = Settings(jump_window_tokens=20, suffix_tokens=0)
    offset = LONG.index("return ") + len("return ")
    result = Completer(engine).complete(Snapshot(LONG, offset, "python"), CancelToken(), settings)
    assert result.window == "full" and "v0 = x" in engine.prompts[-1]
