"""LSP wiring of "Fix this function": codeAction (instant), codeAction/resolve (the model runs
here, lazily), and the ``infill.fixFunction`` command for clients without resolve support.

Only protocol translation lives here; the pipeline is ``lsp_server.fix``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from lsprotocol import types
from pygls import uris
from pygls.workspace import TextDocument

from lsp_server.documents import Located, locate
from lsp_server.engine.base import Cancelled
from lsp_server.fix.edits import Hunk
from lsp_server.fix.fixer import Fixer, FixOutcome
from lsp_server.fix.function import FunctionSpan, find_function
from lsp_server.fix.named_test import project_root
from lsp_server.fix.verify import NamedTests
from lsp_server.prompt.chat import FixRequest
from lsp_server.server import InfillServer, progress_begin, server

log = logging.getLogger("infill-lsp")

FIX_COMMAND = "infill.fixFunction"
FIX_TITLE = "Fix this function"
KINDS = [types.CodeActionKind.QuickFix, types.CodeActionKind.RefactorRewrite]


class FixError(Exception):
    """A fix request that cannot run (document gone or changed, model not ready, no function)."""


@dataclass(frozen=True)
class Target:
    """Where a fix applies, as the client named it."""

    uri: str
    start: types.Position
    end: types.Position
    version: int | None = None  # the document version the action was offered for
    diagnostics: tuple[str, ...] = ()
    instruction: str = ""
    tests: tuple[str, ...] = ()  # failing tests the user names (pytest node ids)

    def to_data(self) -> dict[str, Any]:
        return {
            "uri": self.uri,
            "start": [self.start.line, self.start.character],
            "end": [self.end.line, self.end.character],
            "version": self.version,
            "diagnostics": list(self.diagnostics),
            "instruction": self.instruction,
            "test": list(self.tests),
        }

    @classmethod
    def from_data(cls, data: Any) -> Target:
        try:
            start = _position(data["start"])
            end = _position(data.get("end", data["start"]))
            return cls(
                str(data["uri"]),
                start,
                end,
                data.get("version"),
                tuple(str(d) for d in data.get("diagnostics") or ()),
                str(data.get("instruction") or ""),
                _node_ids(data.get("test")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise FixError(f"malformed fix request: {exc}") from exc


def _position(value: Any) -> types.Position:
    """``[line, character]`` or ``{line, character}`` (0-based)."""
    if isinstance(value, dict):
        return types.Position(int(value["line"]), int(value["character"]))
    line, character = value
    return types.Position(int(line), int(character))


def _node_ids(value: Any) -> tuple[str, ...]:
    """``test``: one node id, several separated by spaces, or a list of them."""
    if not value:
        return ()
    if isinstance(value, str):
        return tuple(value.split())
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(v.strip() for v in value if v.strip())
    raise ValueError("'test' must be a pytest node id or a list of them")


def _workspace_roots(ls: InfillServer) -> list[str]:
    folders = (ls.workspace.folders or {}).values()
    roots = [uris.to_fs_path(f.uri) or "" for f in folders if f.uri.startswith("file:")]
    return [r for r in [*roots, ls.workspace.root_path or ""] if r]


def _function_at(ls: InfillServer, target: Target) -> tuple[TextDocument, Located, FunctionSpan]:
    """The open document, the snapshot at the target's start and the function there."""
    doc = ls.workspace.text_documents.get(target.uri)
    if target.version is not None and doc is not None and doc.version != target.version:
        raise FixError("the document changed since the action was offered; ask again")
    located = locate(doc, target.start, ls.settings)
    if isinstance(located, str):
        raise FixError(located)
    snapshot = located.snapshot
    end = locate(doc, target.end, ls.settings)
    end_offset = end.snapshot.offset if not isinstance(end, str) else snapshot.offset
    function = find_function(snapshot.text, snapshot.language, snapshot.offset, end_offset)
    if function is None:
        raise FixError("the cursor is not inside a function")
    assert doc is not None  # locate() refuses a document that is not open
    return doc, located, function


def _overlaps(diagnostic: types.Diagnostic, function: FunctionSpan) -> bool:
    return (
        diagnostic.range.start.line < function.end_line
        and diagnostic.range.end.line >= function.start_line
    )


@server.feature(
    types.TEXT_DOCUMENT_CODE_ACTION,
    types.CodeActionOptions(code_action_kinds=KINDS, resolve_provider=True),
)
def code_action(ls: InfillServer, params: types.CodeActionParams) -> list[types.CodeAction] | None:
    """Offer the action when the range lies in a function; instant (no model)."""
    doc = ls.workspace.text_documents.get(params.text_document.uri)
    target = Target(
        params.text_document.uri, params.range.start, params.range.end, doc and doc.version
    )
    try:
        _, _, function = _function_at(ls, target)
    except FixError:
        return None
    diagnostics = [d for d in params.context.diagnostics if _overlaps(d, function)]
    kind = KINDS[0] if diagnostics else KINDS[1]
    only = params.context.only
    if only and not any(kind == o or kind.value.startswith(o.value + ".") for o in only):
        return None
    messages = tuple(
        f"line {d.range.start.line - function.start_line + 1}: {d.message}" for d in diagnostics
    )
    target = Target(target.uri, target.start, target.end, target.version, messages)
    action = types.CodeAction(
        title=FIX_TITLE, kind=kind, diagnostics=diagnostics or None, data=target.to_data()
    )
    if not _client_resolves_edits(ls):
        action.data = None
        action.command = types.Command(FIX_TITLE, FIX_COMMAND, [target.to_data()])
    return [action]


def _client_resolves_edits(ls: InfillServer) -> bool:
    caps = ls.client_capabilities.text_document
    action_caps = caps.code_action if caps else None
    support = action_caps.resolve_support if action_caps else None
    return support is not None and "edit" in support.properties


@server.feature(types.CODE_ACTION_RESOLVE)
async def resolve_code_action(ls: InfillServer, action: types.CodeAction) -> types.CodeAction:
    """Compute the edit (seconds): the model runs only for the action the user picked."""
    try:
        target = Target.from_data(action.data)
        outcome, edit = await run_fix(ls, target)
    except FixError as exc:
        ls.tell(f"infill-lsp: {exc}", types.MessageType.Warning)
        return action
    if edit is None:
        ls.tell(f"infill-lsp: {outcome.message}", types.MessageType.Info)
    action.edit = edit
    return action


@server.command(FIX_COMMAND)
async def fix_command(ls: InfillServer, *args: Any) -> dict[str, Any]:
    """``infill.fixFunction(target)``: compute the fix and apply it with workspace/applyEdit.
    ``target`` is the action's data, or ``{uri, start: [line, character], instruction?, test?}``
    where ``test`` names failing tests (pytest node ids, relative to the workspace folder)."""
    raw = args[0] if len(args) == 1 and isinstance(args[0], (list, tuple)) else args
    try:
        if not raw or not isinstance(raw[0], dict):
            raise FixError(
                "expected one argument {uri, start: [line, character], instruction?, test?}"
            )
        data = dict(raw[0])
        if len(raw) > 1 and isinstance(raw[1], str):
            data["instruction"] = raw[1]
        outcome, edit = await run_fix(ls, Target.from_data(data))
    except FixError as exc:  # the caller shows the returned message (no second toast)
        return {"applied": False, "message": str(exc)}
    if edit is None:
        return {"applied": False, "message": outcome.message}
    try:
        result = await ls.workspace_apply_edit_async(
            types.ApplyWorkspaceEditParams(edit=edit, label=FIX_TITLE)
        )
    except Exception as exc:  # a client without workspace/applyEdit: say so, keep serving
        ls.tell(f"infill-lsp: the editor did not apply the fix: {exc}", types.MessageType.Warning)
        return {"applied": False, "message": f"{outcome.message} (not applied: {exc})"}
    applied = bool(result and result.applied)
    return {"applied": applied, "message": outcome.message}


async def run_fix(
    ls: InfillServer, target: Target
) -> tuple[FixOutcome, types.WorkspaceEdit | None]:
    """The fix for ``target`` on the model worker, with $/progress; raises FixError when it
    cannot run. The edit is None when nothing is proposed, or when the document changed while
    the model worked (an edit for an old version would corrupt the new one)."""
    if ls.loaded is None or not ls.settings.enable:
        raise FixError(f"the model is not ready ({ls.state})")
    doc, located, function = _function_at(ls, target)
    version = doc.version
    snapshot = located.snapshot
    request = FixRequest(
        language=snapshot.language,
        function=function.text,
        name=function.name,
        path=snapshot.path,
        context=function.context,
        diagnostics=target.diagnostics,
        instruction=target.instruction,
    )
    fixer = Fixer(ls.loaded.engine, ls.settings)
    tests = None
    if target.tests:
        tests = NamedTests(
            target.tests,
            snapshot.path,
            project_root(snapshot.path, _workspace_roots(ls)),
            ls.settings.fix_test_timeout_ms / 1000,
        )
    units = doc.position_codec.client_num_units
    task = asyncio.current_task()
    ls.worker.cancel(target.uri, "a fix was asked for")  # e.g. a prefetch: the user waits now
    progress = await progress_begin(ls, f"infill-lsp: fixing `{function.name}`", task)
    loop = asyncio.get_running_loop()

    def report(message: str, percentage: int) -> None:
        if progress is not None:
            value = types.WorkDoneProgressReport(message=message, percentage=percentage)
            loop.call_soon_threadsafe(ls.work_done_progress.report, progress, value)

    finish = "cancelled"
    try:
        outcome = await ls.worker.run(
            "fix:" + target.uri,
            lambda token: fixer.fix(snapshot.text, function, request, token, report, units, tests),
        )
        finish = outcome.message
    except (Cancelled, asyncio.CancelledError) as exc:  # $/cancelRequest or progress cancel
        raise FixError("fix cancelled") from exc
    except Exception as exc:  # a bug of ours costs this fix, never the request or the server
        log.exception("fix failed")
        raise FixError(f"fix failed: {exc}") from exc
    finally:
        if progress is not None:
            ls.work_done_progress.end(progress, types.WorkDoneProgressEnd(message=finish))
            ls.work_done_progress.tokens.pop(progress, None)
    ls.last_fix = {
        "function": function.name,
        "message": outcome.message,
        "changed": outcome.changed,
        "verified": outcome.verified,
        "checks": outcome.checks,
        "notes": outcome.notes,
        "baselinePassed": outcome.baseline_passed,
        "passed": outcome.passed,
        "attempts": outcome.attempts,
        "totalMs": round(outcome.total_ms, 1),
    }
    ls.log(f"fix {function.name}: {outcome.message} ({outcome.total_ms:.0f} ms)")
    now = ls.workspace.text_documents.get(target.uri)
    if not outcome.changed:
        return outcome, None
    if now is None or now.version != version:
        outcome.message = "the document changed while the fix was computed; no edit made"
        return outcome, None
    return outcome, workspace_edit(target.uri, version, outcome.hunks, located.crlf)


def workspace_edit(
    uri: str, version: int | None, hunks: list[Hunk], crlf: bool = False
) -> types.WorkspaceEdit:
    """A versioned TextDocumentEdit of line hunks: a client applies it only to that version."""
    edits: list[types.TextEdit | types.AnnotatedTextEdit | types.SnippetTextEdit] = [
        types.TextEdit(
            range=types.Range(
                start=types.Position(h.start_line, 0),
                end=types.Position(h.end_line, h.end_character),
            ),
            new_text=h.new_text.replace("\n", "\r\n") if crlf else h.new_text,
        )
        for h in hunks
    ]
    identifier = types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=version)
    return types.WorkspaceEdit(
        document_changes=[types.TextDocumentEdit(text_document=identifier, edits=edits)]
    )
