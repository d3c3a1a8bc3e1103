"""JSON-RPC as the server speaks it: every request gets an answer.

pygls drops a request whose params do not deserialize (it logs the error and sends nothing), a
request that arrives after ``shutdown``, and a response it cannot serialize; an editor, or a
proxy in front of a team engine, then waits on that id forever. ``InfillProtocol`` answers each
of them with a JSON-RPC error that says why (``InvalidParams`` with the offending field,
``InvalidRequest``, ``InternalError``), logs one line for a malformed notification, and fails
our own pending request when the client's response to it is malformed (``workspace/applyEdit``
awaited by a fix would otherwise hang). ``textDocument/didChange`` goes through the document
service (``DocumentService.change``), which refuses edits that would diverge the copy.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any

import cattrs
from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams, JsonRpcMethodNotFound
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.language_server import lsp_method
from pygls.workspace import Workspace

from lsp_server.services.documents import LspWorkspace

log = logging.getLogger("infill-lsp")

PARSE_ERROR = -32700


class _Answered(logging.Filter):
    """pygls logs a traceback for every body that is not JSON, every message it cannot
    deserialize and every request a handler refuses with ``InvalidParams``; all are answered
    with the reason, so one line is enough (a traceback per bad request buries the real
    errors in the log)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.getMessage().startswith("Unable to deserialize message"):
            return False  # structure_message answers these, with a line of its own
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, (json.JSONDecodeError, UnicodeDecodeError)):
            return False  # answered with a parse error, which logs its own line
        if isinstance(exc, (JsonRpcInvalidParams, JsonRpcMethodNotFound)):
            record.msg, record.args, record.exc_info = "answered with an error: %s", (exc,), None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


for _name in ("pygls.protocol.json_rpc", "pygls.protocol.language_server", "pygls.io_"):
    logging.getLogger(_name).addFilter(_Answered())


@dataclass(frozen=True)
class Unreadable:
    """A message whose params did not deserialize, kept long enough to answer it."""

    id: int | str | None
    method: str | None  # None: a response to one of our requests
    reason: str
    uri: str | None = None  # the document it names, where it names one (a lost didChange)
    code: int = types.ErrorCodes.InvalidParams  # InternalError: the fault is ours, not the params'
    jsonrpc: str = "2.0"

    @classmethod
    def of(cls, data: dict[str, Any], exc: BaseException) -> Unreadable:
        params = data.get("params")
        document = params.get("textDocument") if isinstance(params, dict) else None
        uri = document.get("uri") if isinstance(document, dict) else None
        cause = exc.__cause__
        if isinstance(cause, (cattrs.BaseValidationError, ValueError, TypeError, KeyError)):
            return cls(data.get("id"), data.get("method"), invalid_reason(cause), uri)
        log.error("could not read a message (a bug of ours)", exc_info=cause or exc)
        return cls(
            data.get("id"),
            data.get("method"),
            f"the server could not read the message: {cause or exc}",
            uri,
            types.ErrorCodes.InternalError,
        )


def invalid_reason(exc: BaseException | None) -> str:
    """What is wrong with the params, in the protocol's own field names
    (``textDocument: required field missing``)."""
    if isinstance(exc, cattrs.BaseValidationError):
        lines = cattrs.transform_error(exc, format_exception=_format)
        return "; ".join(_camel_path(line) for line in lines)
    return str(exc) if exc is not None else "unreadable message"


def _format(exc: BaseException, type_: Any) -> str:
    if isinstance(exc, KeyError):
        return "required field missing"
    detail = str(exc) if isinstance(exc, ValueError) else ""
    if type_ is None:  # a validator's verdict (a negative line): its own words say it
        return detail or "invalid value"
    name = getattr(type_, "__name__", None) or str(type_)
    return f"invalid value for {name}" + (f": {detail}" if detail else "")


def _camel_path(line: str) -> str:
    """``... @ $.params.text_document`` -> ``params.textDocument: ...``."""
    message, _, path = line.rpartition(" @ ")
    if not message:
        return line
    path = re.sub(r"_([a-z])", lambda m: m.group(1).upper(), path.removeprefix("$."))
    return f"{path}: {message}"


class InfillProtocol(LanguageServerProtocol):
    """pygls' protocol, answering what it would leave unanswered."""

    @property
    def _workspace(self) -> Workspace | None:
        return self.__dict__.get("_lsp_workspace")

    @_workspace.setter
    def _workspace(self, made: Workspace | None) -> None:
        """pygls makes its ``Workspace`` in ``initialize``: ours instead, whose documents
        count lines as LSP does (``LspWorkspace``)."""
        if made is not None and type(made) is Workspace:
            made.__class__ = LspWorkspace  # adds no state: only how documents are made
        self.__dict__["_lsp_workspace"] = made

    def structure_message(self, data: dict[str, Any]) -> Any:
        try:
            return super().structure_message(data)
        except JsonRpcException as exc:
            if not isinstance(data, dict) or "jsonrpc" not in data:
                raise
            return Unreadable.of(data, exc)

    def handle_message(self, message: Any) -> None:
        if isinstance(message, Unreadable):
            self._answer_unreadable(message)
            return
        if not hasattr(message, "jsonrpc"):  # JSON, but no JSON-RPC message (pygls would raise)
            self._not_a_message(message)
            return
        is_request = getattr(message, "method", None) is not None and hasattr(message, "id")
        if is_request and self._shutdown and message.method != types.EXIT:
            self._refuse(message.id, "the server is shutting down")
            return
        if is_request and getattr(message, "jsonrpc", None) != self.VERSION:
            self._refuse(message.id, f"jsonrpc must be {self.VERSION!r}")
            return
        super().handle_message(message)

    def _answer_unreadable(self, message: Unreadable) -> None:
        if message.method is None:  # the client's answer to our request: fail that request
            error = types.ResponseError(types.ErrorCodes.InvalidParams, message.reason)
            self._handle_response(message.id, None, error)
            return
        if message.id is None:  # a notification: nobody waits, say it once in the log
            log.warning("ignored %s with invalid params: %s", message.method, message.reason)
            if message.method == types.TEXT_DOCUMENT_DID_CHANGE and message.uri:
                self.lose_change(message.uri, message.reason)
            return
        invalid = message.code == types.ErrorCodes.InvalidParams
        reason = f"{message.method}: " + ("invalid params: " if invalid else "") + message.reason
        log.warning("answered request %s with an error (%s)", message.id, reason)
        self._send_response(message.id, error=types.ResponseError(message.code, reason))

    def _not_a_message(self, message: Any) -> None:
        """A JSON body without ``jsonrpc`` (or a batch, which LSP does not have): a request
        among them is refused by its id, anything else gets one error with id null."""
        if isinstance(message, dict) and "id" in message and "method" in message:
            self._refuse(message["id"], f"jsonrpc must be {self.VERSION!r}")
            return
        what = "a batch (LSP has none)" if isinstance(message, list) else "not a JSON-RPC message"
        log.warning("a body that is %s: ignored", what)
        self._answer_without_id(types.ErrorCodes.InvalidRequest, f"the body is {what}")

    def _answer_without_id(self, code: int, message: str) -> None:
        """JSON-RPC's answer to a message whose id could not be read: ``"id": null`` (pygls'
        converter would leave the null id out)."""
        error = {"code": int(code), "message": message}
        self._send_data({"jsonrpc": self.VERSION, "id": None, "error": error})

    def _refuse(self, msg_id: Any, reason: str) -> None:
        log.warning("refused request %s: %s", msg_id, reason)
        error = types.ResponseError(types.ErrorCodes.InvalidRequest, reason)
        self._send_response(msg_id, error=error)

    def _send_response(
        self, msg_id: Any, result: Any | None = None, error: types.ResponseError | None = None
    ) -> None:
        """pygls logs a result it cannot serialize and sends nothing: send an error instead."""
        if error is None and result is not None:
            try:
                json.dumps(result, default=self._serialize_message)
            except Exception as exc:
                log.exception("the answer to request %s could not be serialized", msg_id)
                reason = f"the server could not serialize its answer: {exc}"
                error, result = types.ResponseError(types.ErrorCodes.InternalError, reason), None
        super()._send_response(msg_id, result=result, error=error)

    def answer_parse_error(self, exc: ValueError) -> None:
        """A body that is not JSON has no id to answer; JSON-RPC answers it with id null."""
        log.warning("a message that is not JSON: %s", exc)
        self._answer_without_id(PARSE_ERROR, f"Parse error: {exc}")

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params: types.DidChangeTextDocumentParams):
        """The document service applies the changes (or refuses them), then our handler runs."""
        if self.change_documents(params):
            return  # refused: the copy is out of sync, nothing changed for our handler
        handler = self.fm.features.get(types.TEXT_DOCUMENT_DID_CHANGE)
        if handler is not None:
            yield handler, (params,), None

    def change_documents(self, params: types.DidChangeTextDocumentParams) -> str:
        """Apply a didChange to the workspace as pygls does ("": applied, else why not); the
        server replaces this with ``DocumentService.change``, which refuses edits that would
        diverge the copy."""
        for change in params.content_changes:
            self.workspace.update_text_document(params.text_document, change)
        return ""

    def lose_change(self, uri: str, why: str) -> None:
        """A didChange for ``uri`` could not be read; the server replaces this with
        ``DocumentService.lost``, which holds the copy out of sync (by default: logged)."""
        log.warning("an edit of %s could not be read: %s", uri, why)
