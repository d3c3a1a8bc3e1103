"""LSP wiring only: methods -> small modules. No pipeline logic lives here."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from lsp_server import __version__
from lsp_server.completion import Completer, Completion, Snapshot
from lsp_server.context.anchor import AnchorMemory
from lsp_server.documents import locate
from lsp_server.engine.base import Cancelled
from lsp_server.engine.remote.http import RemoteError
from lsp_server.engine.worker import ModelWorker
from lsp_server.index.watcher import IndexWatcher
from lsp_server.index.workspace import WorkspaceIndex
from lsp_server.loader import LoadedModel, load_engine, needs_reload
from lsp_server.model.resolve import ModelError
from lsp_server.settings import Settings, merge, to_wire
from lsp_server.typing_cache import TypingCache

log = logging.getLogger("infill-lsp")

STATUS_METHOD = "infill/status"
# Pushed to the client on every change of state (status bars): {state, message, model}.
STATUS_CHANGED = "infill/statusChanged"


class InfillServer(LanguageServer):
    """Holds the state the handlers share; the handlers themselves are module functions."""

    def __init__(self) -> None:
        super().__init__("infill-lsp", __version__)
        self.settings = Settings()
        self.worker = ModelWorker()
        self.loaded: LoadedModel | None = None
        self.completer: Completer | None = None
        self.state = "starting"  # starting | loading | ready | error | disabled
        self.message = ""
        self._announced: tuple[str, str] | None = None
        self.last: dict[str, object] = {}
        self.last_fix: dict[str, object] = {}  # the last fix action's outcome (status, B3)
        self.engine_health: dict[str, str] = {}  # a remote engine's last outage / recovery
        self.cache = TypingCache()
        self.anchors = AnchorMemory()
        self.totals = {
            "requests": 0,
            "cacheHits": 0,
            "modelCalls": 0,
            "evaluatedTokens": 0,
            "promptTokens": 0,
            "prefetches": 0,  # prefetch generations that ran to the end
        }
        self._load_task: asyncio.Task | None = None  # held so the task is not collected
        self.index: WorkspaceIndex | None = None  # repository context (lsp_server.indexing)
        self.watcher: IndexWatcher | None = None
        self._index_task: asyncio.Task | None = None
        self._background: set[asyncio.Task] = set()  # prefetch tasks, held until done

    # -- messages -------------------------------------------------------------------------
    def log(self, message: str, level: types.MessageType = types.MessageType.Log) -> None:
        log.info(message)
        self.window_log_message(types.LogMessageParams(type=level, message=message))

    def tell(self, message: str, level: types.MessageType = types.MessageType.Error) -> None:
        """A message the user can act on: shown in the editor, and logged."""
        log.warning(message)
        self.window_show_message(types.ShowMessageParams(type=level, message=message))

    def set_state(self, state: str, message: str = "") -> None:
        """Change the model state and push it to the client (once per distinct state)."""
        self.state, self.message = state, message
        if self._announced == (state, message):
            return
        self._announced = (state, message)
        model = self.loaded.describe() if self.loaded and state == "ready" else None
        try:
            self.protocol.notify(
                STATUS_CHANGED, {"state": state, "message": message, "model": model}
            )
        except Exception as exc:  # no transport yet (unit tests) or the client is gone
            log.debug("status not pushed: %s", exc)

    def apply_settings(self, raw: object, origin: str) -> bool:
        """Merge wire settings; report bad ones; return True when the model must reload."""
        new, errors = merge(self.settings, raw)
        for error in errors:
            self.tell(f"infill-lsp {origin}: {error}", types.MessageType.Warning)
        reload = needs_reload(self.settings, new)
        if new != self.settings:
            self.cache.clear()  # suggestions made under other settings are not reused
        self.settings = new
        if self.completer is not None:
            self.completer.settings = new
        return reload


server = InfillServer()


# -- lifecycle ------------------------------------------------------------------------------
@server.feature(types.INITIALIZE)
def on_initialize(ls: InfillServer, params: types.InitializeParams) -> None:
    ls.apply_settings(params.initialization_options, "initializationOptions")


@server.feature(types.INITIALIZED)
def on_initialized(ls: InfillServer, _params: types.InitializedParams) -> None:
    indexing.start(ls)  # first: the completer the model load creates gets the index
    ls._load_task = asyncio.ensure_future(load_model(ls))


@server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
def on_configuration(ls: InfillServer, params: types.DidChangeConfigurationParams) -> None:
    ignore = ls.settings.repo_ignore
    reload = ls.apply_settings(params.settings, "settings")
    if ls.state == "starting":
        return  # initialized will load with these settings
    indexing.settings_changed(ls, ignore)
    if not ls.settings.enable:
        ls.set_state("disabled")
    elif ls.state == "loading" and not reload:
        return  # the load under way takes the new settings when it finishes
    elif reload or ls.completer is None:
        ls._load_task = asyncio.ensure_future(load_model(ls))
    else:
        ls.set_state("ready", ls.loaded.engine.name if ls.loaded else "")


@server.feature(types.SHUTDOWN)
def on_shutdown(ls: InfillServer, _params: None) -> None:
    ls.worker.cancel_all()
    indexing.stop(ls)


async def load_model(ls: InfillServer) -> None:
    """Load (or reload) the model on the worker, reporting $/progress; never raises."""
    if not ls.settings.enable:
        ls.set_state("disabled")
        return
    ls.completer = ls.loaded = None  # free the old model before the new one takes memory
    ls.set_state("loading")
    progress = await progress_begin(ls, "infill-lsp: loading model")
    loop = asyncio.get_running_loop()

    def report(done: int, total: int) -> None:
        if progress is not None and total:
            pct = int(done * 100 / total)
            value = types.WorkDoneProgressReport(message=f"preparing model {pct}%", percentage=pct)
            loop.call_soon_threadsafe(ls.work_done_progress.report, progress, value)

    try:
        loaded = await asyncio.wrap_future(
            ls.worker.submit(lambda: load_engine(ls.settings, report))
        )
    except (ModelError, ValueError, OSError) as exc:  # what a user can act on
        ls.set_state("error", str(exc))
        ls.tell(f"infill-lsp: {exc}")
    except Exception as exc:  # a llama.cpp failure we did not foresee: still never stuck
        log.exception("model load failed")
        ls.set_state("error", f"model load failed: {exc}")
        ls.tell(f"infill-lsp: {ls.message}")
    else:
        if hasattr(loaded.engine, "on_health"):  # a remote engine: its outages, told once
            loaded.engine.on_health = lambda state, message: loop.call_soon_threadsafe(
                remote_health, ls, state, message
            )
        ls.loaded, ls.completer = loaded, Completer(loaded.engine, ls.settings, ls.index)
        ls.set_state("ready", loaded.engine.name)
        ls.log(f"model ready: {loaded.describe()}", types.MessageType.Info)
    if progress is not None:
        ls.work_done_progress.end(progress, types.WorkDoneProgressEnd(message=ls.state))


def remote_health(ls: InfillServer, state: str, message: str) -> None:
    """A remote engine went down (told once: requests then fail fast, quietly) or came back."""
    ls.engine_health = {"state": state, "message": message}
    if state == "down":
        ls.tell(
            f"infill-lsp: {message}. Completions are paused and resume by themselves when the "
            "engine answers again.",
            types.MessageType.Warning,
        )
    else:
        ls.tell(f"infill-lsp: {message}; completions resumed.", types.MessageType.Info)


async def progress_begin(
    ls: InfillServer, title: str, task: asyncio.Task | None = None
) -> str | None:
    """Begin a server-initiated $/progress; None when the client does not take progress.
    With ``task``, the progress is cancellable: the client's cancel cancels the task."""
    caps = ls.client_capabilities.window
    if caps is None or not caps.work_done_progress:
        return None
    token = f"infill-{uuid.uuid4()}"
    try:
        await ls.work_done_progress.create_async(token)
    except Exception as exc:  # a client that refuses progress still gets its answer
        log.info("progress refused: %s", exc)
        return None
    begin = types.WorkDoneProgressBegin(title=title, percentage=0, cancellable=task is not None)
    ls.work_done_progress.begin(token, begin)
    cancelled = ls.work_done_progress.tokens.get(token)
    if task is not None and cancelled is not None:
        cancelled.add_done_callback(
            lambda f: f.cancelled() and task.get_loop().call_soon_threadsafe(task.cancel)
        )
    return token


# -- completions ----------------------------------------------------------------------------
async def _complete(ls: InfillServer, uri: str, position: types.Position) -> str:
    """Shared by inline completion and the completion fallback: the insert text or ""."""
    ls.totals["requests"] += 1
    number = ls.totals["requests"]  # `last` says which request it describes (B2 replays)
    if ls.completer is None or not ls.settings.enable:
        ls.last = {"request": number, "finish": "skipped", "reason": ls.state}
        return ""  # still loading (or failed: the user was told once) -> empty, quickly
    located = locate(ls.workspace.text_documents.get(uri), position, ls.settings)
    if isinstance(located, str):
        ls.last = {"request": number, "finish": "skipped", "reason": located}
        ls.log(f"no completion for {uri}: {located}")
        return ""
    snapshot = located.snapshot
    hit = ls.cache.lookup(uri, snapshot.text, snapshot.offset)
    if hit is not None:  # the user is typing through the suggestion on screen
        ls.totals["cacheHits"] += 1
        ls.last = {"request": number, "finish": "cache"}
        return hit.replace("\n", "\r\n") if located.crlf else hit
    snapshot = dataclasses.replace(
        snapshot, anchor=ls.anchors.anchor(uri, snapshot.text, snapshot.offset)
    )
    completer = ls.completer
    try:
        result = await ls.worker.run(uri, lambda token: completer.complete(snapshot, token))
    except Cancelled as exc:
        ls.last = {"request": number, "finish": "cancelled", "reason": str(exc)}
        return ""
    except RemoteError as exc:  # a remote engine's outage: told once (remote_health), quiet here
        ls.last = {"request": number, "finish": "unavailable", "reason": str(exc)}
        if not exc.unreachable:
            ls.log(f"completion failed: {exc}", types.MessageType.Warning)
        return ""
    except Exception as exc:  # the server never dies on a request
        log.exception("completion failed")
        ls.log(f"completion failed: {exc}", types.MessageType.Error)
        return ""
    _record(ls, number, result)
    ls.cache.remember(uri, snapshot.text, snapshot.offset, result.text)
    if result.text and ls.settings.prefetch:
        task = asyncio.ensure_future(_prefetch(ls, uri, snapshot, result.text))
        ls._background.add(task)
        task.add_done_callback(ls._background.discard)
    return result.text.replace("\n", "\r\n") if located.crlf else result.text


async def _prefetch(ls: InfillServer, uri: str, served: Snapshot, suggestion: str) -> None:
    """In idle time, compute the suggestion that follows the served one's acceptance and put
    it in the typing cache. Runs under the document's key on the worker, so the next request
    for the document (any keystroke) cancels it. The prompt is the served one plus the
    suggestion, which the KV cache already holds: it costs generation only."""
    completer = ls.completer
    if completer is None:
        return
    offset = served.offset + len(suggestion)
    text = served.text[: served.offset] + suggestion + served.text[served.offset :]
    ahead = dataclasses.replace(served, text=text, offset=offset, anchor=served.anchor)
    try:
        result = await ls.worker.run(uri, lambda token: completer.complete(ahead, token))
    except Cancelled:
        return
    except Exception:
        log.exception("prefetch failed")
        return
    ls.totals["prefetches"] += 1
    ls.cache.remember(uri, text, offset, result.text, empty_ok=True)


def _record(ls: InfillServer, number: int, result: Completion) -> None:
    stats = result.stats()
    ls.last = {"request": number, **stats}
    if result.generation is not None:
        ls.totals["modelCalls"] += 1
        ls.totals["evaluatedTokens"] += result.generation.evaluated_tokens
        ls.totals["promptTokens"] += result.generation.prompt_tokens
    ls.log(f"completion {stats}")
    if result.prompt is not None and ls.loaded is not None:  # the logPrompts setting
        ls.log("prompt: " + ls.loaded.engine.detokenize(result.prompt, special=True))


@server.feature(
    types.TEXT_DOCUMENT_INLINE_COMPLETION,
    types.InlineCompletionOptions(work_done_progress=False),
)
async def inline_completion(
    ls: InfillServer, params: types.InlineCompletionParams
) -> types.InlineCompletionList | None:
    uri, pos = params.text_document.uri, params.position
    text = await _complete(ls, uri, pos)
    if not text:
        return types.InlineCompletionList(items=[])
    item = types.InlineCompletionItem(insert_text=text, range=types.Range(start=pos, end=pos))
    return types.InlineCompletionList(items=[item])


@server.feature(
    types.TEXT_DOCUMENT_COMPLETION,
    types.CompletionOptions(trigger_characters=[".", "(", " "], resolve_provider=False),
)
async def completion(ls: InfillServer, params: types.CompletionParams) -> types.CompletionList:
    """Fallback for clients without inline completion: the infill as one completion item."""
    uri, pos = params.text_document.uri, params.position
    if not _fallback_wanted(ls):
        return types.CompletionList(is_incomplete=False, items=[])
    text = await _complete(ls, uri, pos)
    if not text:
        return types.CompletionList(is_incomplete=True, items=[])
    label = text.strip().split("\n", 1)[0][:80] or text
    item = types.CompletionItem(
        label=label,
        kind=types.CompletionItemKind.Text,
        detail="infill-lsp",
        documentation=text,  # a plain string: every client renders it
        text_edit=types.TextEdit(range=types.Range(start=pos, end=pos), new_text=text),
        insert_text_format=types.InsertTextFormat.PlainText,
        sort_text="0",
        filter_text=label,
    )
    return types.CompletionList(is_incomplete=True, items=[item])


def _fallback_wanted(ls: InfillServer) -> bool:
    mode = ls.settings.completion_fallback
    if mode != "auto":
        return mode == "always"
    text_caps = ls.client_capabilities.text_document
    return text_caps is None or text_caps.inline_completion is None


@server.feature(STATUS_METHOD)
def status(ls: InfillServer, _params: object) -> dict[str, object]:
    """Model state for status bars, tests and benchmarks (stats of the last request too)."""
    return {
        "state": ls.state,
        "message": ls.message,
        "model": ls.loaded.describe() if ls.loaded else None,
        "settings": to_wire(ls.settings),
        "last": ls.last,
        "lastFix": ls.last_fix,
        "index": ls.index.stats.to_wire() if ls.index is not None else None,
        # whether prompts get cross-file snippets with this model (repoContext "auto" leaves
        # an instruction-tuned one without)
        "repoContextActive": bool(
            ls.loaded and ls.settings.repo_context_for(ls.loaded.engine.name)
        ),
        "engineHealth": ls.engine_health,
        "totals": dict(ls.totals),
    }


# The fix action's and the index's handlers register themselves on ``server`` (imported last:
# they use it).
import lsp_server.actions  # noqa: E402, F401
import lsp_server.indexing as indexing  # noqa: E402
