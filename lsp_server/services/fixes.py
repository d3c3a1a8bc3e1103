""" "Fix this function" as the server runs it: the target the client names, the function there,
the fix on the model worker (with cancellable progress) and the versioned edit it returns.

The pipeline is ``lsp_server.fix``; the LSP wiring (codeAction, resolve, the command) is
``lsp_server.handlers.actions``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from lsprotocol import types
from pygls.workspace import TextDocument

from lsp_server.engine.base import Cancelled
from lsp_server.fix.edits import Hunk
from lsp_server.fix.fixer import Fixer, FixOutcome
from lsp_server.fix.function import FunctionSpan, find_function
from lsp_server.fix.named_test import project_root
from lsp_server.fix.verify import NamedTests
from lsp_server.prompt.chat import FixRequest
from lsp_server.services.client import Client
from lsp_server.services.config import Config
from lsp_server.services.documents import DocumentService, Located, restore_line_ends
from lsp_server.services.model import ModelService

log = logging.getLogger("infill-lsp")


class FixError(Exception):
    """A fix request that cannot run (document gone or changed, model not ready, no function)."""


class MalformedTarget(FixError):
    """The client named no readable target (the protocol answers it ``InvalidParams``)."""


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
            raise MalformedTarget(f"malformed fix request: {exc}") from exc


def _position(value: Any) -> types.Position:
    """``[line, character]`` or ``{line, character}`` (0-based)."""
    if isinstance(value, dict):
        line, character = int(value["line"]), int(value["character"])
    else:
        line, character = (int(v) for v in value)
    if line < 0 or character < 0:
        raise ValueError(f"negative position {line}:{character}")
    return types.Position(line, character)


def _node_ids(value: Any) -> tuple[str, ...]:
    """``test``: one node id, several separated by spaces, or a list of them."""
    if not value:
        return ()
    if isinstance(value, str):
        return tuple(value.split())
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(v.strip() for v in value if v.strip())
    raise ValueError("'test' must be a pytest node id or a list of them")


class FixService:
    def __init__(
        self, client: Client, config: Config, documents: DocumentService, model: ModelService
    ) -> None:
        self.client = client
        self.config = config
        self.documents = documents
        self.model = model
        self.last: dict[str, object] = {}  # the last fix's outcome (infill/status, B3)

    def function_at(self, target: Target) -> tuple[TextDocument, Located, FunctionSpan]:
        """The open document, the snapshot at the target's start and the function there."""
        settings = self.config.settings
        doc = self.documents.get(target.uri)
        if target.version is not None and doc is not None and doc.version != target.version:
            raise FixError("the document changed since the action was offered; ask again")
        located = self.documents.locate(target.uri, target.start, settings)
        if isinstance(located, str):
            raise FixError(located)
        snapshot = located.snapshot
        end = self.documents.locate(target.uri, target.end, settings)
        end_offset = end.snapshot.offset if not isinstance(end, str) else snapshot.offset
        function = find_function(snapshot.text, snapshot.language, snapshot.offset, end_offset)
        if function is None:
            raise FixError("the cursor is not inside a function")
        assert doc is not None  # locate() refuses a document that is not open
        return doc, located, function

    async def run(self, target: Target) -> tuple[FixOutcome, types.WorkspaceEdit | None]:
        """The fix for ``target`` on the model worker, with $/progress; raises FixError when it
        cannot run. The edit is None when nothing is proposed, or when the document changed
        while the model worked (an edit for an old version would corrupt the new one)."""
        settings, engine = self.config.settings, self.model.engine
        if engine is None or not settings.enable:
            raise FixError(f"the model is not ready ({self.model.state})")
        doc, located, function = self.function_at(target)
        version, snapshot = doc.version, located.snapshot
        request = FixRequest(
            language=snapshot.language,
            function=function.text,
            name=function.name,
            path=snapshot.path,
            context=function.context,
            diagnostics=target.diagnostics,
            instruction=target.instruction,
        )
        fixer = Fixer(engine, settings)
        tests = None
        if target.tests:
            roots = [*self.documents.folders(), self.documents.root()]
            root = project_root(snapshot.path, roots)
            tests = NamedTests(
                target.tests, snapshot.path, root, settings.fix_test_timeout_ms / 1000
            )
        units = doc.position_codec.client_num_units
        worker = self.model.worker
        worker.cancel(target.uri, "a fix was asked for")  # e.g. a prefetch: the user waits now
        title = f"infill-lsp: fixing `{function.name}`"
        progress = await self.client.progress(title, asyncio.current_task())
        finish = "cancelled"
        try:
            outcome = await worker.run(
                "fix:" + target.uri,
                lambda token: fixer.fix(
                    snapshot.text, function, request, token, progress.report, units, tests
                ),
            )
            finish = outcome.message
        except (Cancelled, asyncio.CancelledError) as exc:  # $/cancelRequest or progress cancel
            raise FixError("fix cancelled") from exc
        except Exception as exc:  # a bug of ours costs this fix, never the request or the server
            log.exception("fix failed")
            raise FixError(f"fix failed: {exc}") from exc
        finally:
            progress.end(finish)
        self._record(function, outcome)
        now = self.documents.get(target.uri)
        if not outcome.changed:
            return outcome, None
        if now is None or now.version != version or not self.documents.in_sync(target.uri):
            outcome.message = "the document changed while the fix was computed; no edit made"
            return outcome, None
        return outcome, workspace_edit(target.uri, version, outcome.hunks, located.crlf)

    def _record(self, function: FunctionSpan, outcome: FixOutcome) -> None:
        self.last = {
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
        self.client.log(f"fix {function.name}: {outcome.message} ({outcome.total_ms:.0f} ms)")


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
            new_text=restore_line_ends(h.new_text, crlf),
        )
        for h in hunks
    ]
    identifier = types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=version)
    return types.WorkspaceEdit(
        document_changes=[types.TextDocumentEdit(text_document=identifier, edits=edits)]
    )
