"""LSP wiring of "Fix this function": codeAction (instant), codeAction/resolve (the model runs
here, lazily), and the ``infill.fixFunction`` command for clients without resolve support.

Only protocol translation lives here; running a fix is ``services.fixes``, the pipeline
``lsp_server.fix``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from lsp_server.fix.function import FunctionSpan
from lsp_server.handlers.params import check_positions, invalid
from lsp_server.services import Services
from lsp_server.services.fixes import FixError, MalformedTarget, Target

FIX_COMMAND = "infill.fixFunction"
FIX_TITLE = "Fix this function"
KINDS = [types.CodeActionKind.QuickFix, types.CodeActionKind.RefactorRewrite]


def register(server: LanguageServer, services: Services) -> None:
    fixes, client = services.fixes, services.client

    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=KINDS, resolve_provider=True),
    )
    def code_action(params: types.CodeActionParams) -> list[types.CodeAction] | None:
        """Offer the action when the range lies in a function; instant (no model)."""
        uri = params.text_document.uri
        check_positions(
            services, types.TEXT_DOCUMENT_CODE_ACTION, uri, params.range.start, params.range.end
        )
        automatic = params.context.trigger_kind == types.CodeActionTriggerKind.Automatic
        if automatic and params.range.start == params.range.end and not params.context.only:
            # VS Code asks for the light bulb whenever the cursor moves: where it goes, a
            # completion request may follow
            services.completions.cursor_rests(uri, params.range.start)
        doc = services.documents.get(uri)
        target = Target(uri, params.range.start, params.range.end, doc and doc.version)
        try:
            _, _, function = fixes.function_at(target)
        except FixError:
            return None
        return offer(params, target, function, client_resolves_edits(server))

    @server.feature(types.CODE_ACTION_RESOLVE)
    async def resolve_code_action(action: types.CodeAction) -> types.CodeAction:
        """Compute the edit (seconds): the model runs only for the action the user picked."""
        target = readable_target(services, types.CODE_ACTION_RESOLVE, lambda: action.data)
        try:
            outcome, edit = await fixes.run(target)
        except FixError as exc:
            client.tell(f"infill-lsp: {exc}", types.MessageType.Warning)
            return action
        if edit is None:
            client.tell(f"infill-lsp: {outcome.message}", types.MessageType.Info)
        action.edit = edit
        return action

    @server.command(FIX_COMMAND)
    async def fix_command(*args) -> dict[str, Any]:
        """``infill.fixFunction(target)``: compute the fix and apply it with
        workspace/applyEdit. ``target`` is the action's data, or ``{uri, start: [line,
        character], instruction?, test?}`` where ``test`` names failing tests (pytest node ids,
        relative to the workspace folder).

        ``*args`` stays unannotated: pygls checks a first parameter's annotation against the
        server class, and ``issubclass(Any, ...)`` raises on Python 3.10."""
        target = readable_target(
            services, types.WORKSPACE_EXECUTE_COMMAND, lambda: command_target(args)
        )
        try:
            outcome, edit = await fixes.run(target)
        except FixError as exc:  # the caller shows the returned message (no second toast)
            return {"applied": False, "message": str(exc)}
        if edit is None:
            return {"applied": False, "message": outcome.message}
        try:
            result = await server.workspace_apply_edit_async(
                types.ApplyWorkspaceEditParams(edit=edit, label=FIX_TITLE)
            )
        except Exception as exc:  # a client without workspace/applyEdit: say so, keep serving
            client.tell(
                f"infill-lsp: the editor did not apply the fix: {exc}", types.MessageType.Warning
            )
            return {"applied": False, "message": f"{outcome.message} (not applied: {exc})"}
        return {"applied": bool(result and result.applied), "message": outcome.message}


def offer(
    params: types.CodeActionParams, target: Target, function: FunctionSpan, resolves: bool
) -> list[types.CodeAction] | None:
    """The action for ``function``: a quick fix when diagnostics overlap it, else a rewrite;
    none when the client asked only for other kinds."""
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
    if not resolves:
        action.data = None
        # by keyword: the third positional field of Command is its tooltip
        action.command = types.Command(
            title=FIX_TITLE, command=FIX_COMMAND, arguments=[target.to_data()]
        )
    return [action]


def readable_target(services: Services, method: str, data: Callable[[], Any]) -> Target:
    """The fix target in a resolve's data or a command's arguments; ``InvalidParams`` when
    there is none, it does not read, or it lies outside the document."""
    try:
        target = Target.from_data(data())
    except MalformedTarget as exc:
        raise invalid(method, str(exc)) from exc
    check_positions(services, method, target.uri, target.start, target.end)
    return target


def command_target(args: tuple[Any, ...]) -> dict[str, Any]:
    """The command's arguments as a target: ``(target,)``, ``([target],)`` or ``(target,
    instruction)``."""
    raw = args[0] if len(args) == 1 and isinstance(args[0], (list, tuple)) else args
    if not raw or not isinstance(raw[0], dict):
        raise MalformedTarget(
            "expected one argument {uri, start: [line, character], instruction?, test?}"
        )
    data = dict(raw[0])
    if len(raw) > 1 and isinstance(raw[1], str):
        data["instruction"] = raw[1]
    return data


def _overlaps(diagnostic: types.Diagnostic, function: FunctionSpan) -> bool:
    return (
        diagnostic.range.start.line < function.end_line
        and diagnostic.range.end.line >= function.start_line
    )


def client_resolves_edits(server: LanguageServer) -> bool:
    caps = server.client_capabilities.text_document
    action_caps = caps.code_action if caps else None
    support = action_caps.resolve_support if action_caps else None
    return support is not None and "edit" in support.properties
