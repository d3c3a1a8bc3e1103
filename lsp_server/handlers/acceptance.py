"""LSP wiring of the acceptance statistics: the command an accepted suggestion runs, the command
that deletes the statistics, and didSave (a check of the characters kept).

Every inline item (and the completion fallback's item) carries ``accept_command(id)``: VS Code
runs an inline item's command when the user accepts it, a completion item's after inserting
it; the Neovim plugin sends it with ``workspace/executeCommand`` from its accept keys. A
partial accept sends the same command with ``kind`` "word" or "line" and the accepted
``length`` (LF-normalised code points: a CRLF line break counts one; the tracker maps them onto
its copy of the suggestion).

The tracker is called through ``safely``: a fault in the statistics is logged and never costs
the answer, the notification or the command.
"""

from __future__ import annotations

from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from lsp_server.handlers.params import invalid
from lsp_server.services import Services
from lsp_server.services.acceptance import PARTIAL_KINDS
from lsp_server.services.completions import Served

ACCEPTED_COMMAND = "infill.accepted"
DELETE_STATS_COMMAND = "infill.deleteStats"


def accept_command(suggestion_id: str) -> types.Command:
    return types.Command(
        title="infill-lsp: suggestion accepted",
        command=ACCEPTED_COMMAND,
        arguments=[{"id": suggestion_id, "kind": "full"}],
    )


def shown_command(
    services: Services, uri: str, position: types.Position, served: Served
) -> types.Command | None:
    """The accept command of the suggestion ``served`` (None when the tracker failed: the
    suggestion is answered all the same, uncounted)."""
    tracker = services.acceptance
    sid = tracker.safely("shown", lambda: tracker.shown(uri, position, served), None)
    return None if sid is None else accept_command(sid)


def register(server: LanguageServer, services: Services) -> None:
    tracker = services.acceptance

    # ``*args`` stays unannotated (see ``actions.fix_command``)
    @server.command(ACCEPTED_COMMAND)
    def accepted(*args) -> dict[str, bool]:
        """``infill.accepted({id, kind: "full" | "word" | "line", length?})``; ``counted`` is
        False for a suggestion no longer remembered (its document closed, or settled long
        ago), or when the statistics failed."""
        suggestion_id, kind, length = accept_arguments(args)
        counted = tracker.safely(
            "accepted", lambda: tracker.accepted(suggestion_id, kind, length), False
        )
        return {"counted": counted}

    @server.command(DELETE_STATS_COMMAND)
    async def delete_stats(*_args) -> dict[str, object]:
        """Delete the statistics file (and this session's totals)."""
        return await services.delete_stats()

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def on_save(params: types.DidSaveTextDocumentParams) -> None:
        tracker.safely("didSave", lambda: tracker.saved(params.text_document.uri), None)


def accept_arguments(args: tuple[Any, ...]) -> tuple[str, str, int]:
    """``(id, kind, length)`` from the command's arguments (``(arg,)`` or ``([arg],)``);
    ``InvalidParams`` when they do not read."""
    raw = args[0] if len(args) == 1 and isinstance(args[0], (list, tuple)) else args
    arg = raw[0] if raw else None
    if hasattr(arg, "_asdict"):  # pygls hands JSON objects over as namedtuples
        arg = arg._asdict()
    method = types.WORKSPACE_EXECUTE_COMMAND
    if not isinstance(arg, dict) or not isinstance(arg.get("id"), str):
        raise invalid(method, 'expected one argument {id, kind: "full" | "word" | "line", length?}')
    kind = arg.get("kind", "full")
    if kind != "full" and kind not in PARTIAL_KINDS:
        raise invalid(method, f'kind must be "full", "word" or "line", not {kind!r}')
    length = arg.get("length", 0)
    if isinstance(length, bool) or not isinstance(length, int) or length < 0:
        raise invalid(method, f"length must be a whole number >= 0, not {length!r}")
    if kind != "full" and not length:
        raise invalid(method, f'a "{kind}" accept needs the accepted length')
    return arg["id"], kind, length
