"""Every request gets an answer: malformed params, positions outside the document, requests
after shutdown, bodies that are not JSON -- through pygls' own read loop and our protocol.

No model: the server is initialized but never told ``initialized``, so nothing loads.
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import pytest
from lsprotocol import types
from pygls.io_ import run_async

from lsp_server.server import build_server

URI = "file:///w/a.py"
TEXT = "def f(x):\n    return x\n"
INLINE = "textDocument/inlineCompletion"


def frame(message: Any) -> bytes:
    body = message if isinstance(message, str) else json.dumps(message)
    data = body.encode()
    return f"Content-Length: {len(data)}\r\n\r\n".encode() + data


def request(id_: int, method: str, params: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": id_, "method": method, "params": params}


def notification(method: str, params: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "method": method, "params": params}


def inline(id_: int, position: Any, doc: Any = None) -> dict[str, Any]:
    params = {"position": position, "context": {"triggerKind": 1}}
    if doc is not False:
        params["textDocument"] = doc or {"uri": URI}
    return request(id_, INLINE, params)


class Writer:
    def __init__(self) -> None:
        self.data = b""

    def write(self, data: bytes) -> None:
        self.data += data

    def close(self) -> None:
        pass

    def messages(self) -> list[dict[str, Any]]:
        out, rest = [], self.data
        while rest:
            header, _, rest = rest.partition(b"\r\n\r\n")
            length = int(header.split(b"Content-Length: ")[1].split(b"\r\n")[0])
            out.append(json.loads(rest[:length]))
            rest = rest[length:]
        return out


async def exchange(*messages: Any) -> tuple[dict[Any, dict[str, Any]], Any]:
    """Feed ``messages`` (after initialize + didOpen) through pygls' read loop; the answers
    by id (notifications from the server are dropped) and the server."""
    server = build_server()
    writer = Writer()
    server.protocol.set_writer(writer)
    opening = [
        request(0, "initialize", {"processId": None, "rootUri": None, "capabilities": {}}),
        notification(
            "textDocument/didOpen",
            {"textDocument": {"uri": URI, "languageId": "python", "version": 1, "text": TEXT}},
        ),
    ]
    reader = asyncio.StreamReader()
    reader.feed_data(b"".join(frame(m) for m in [*opening, *messages]))
    reader.feed_eof()
    await run_async(threading.Event(), reader, server.protocol, None, server.report_server_error)
    for _ in range(50):  # async handlers answer on later loop turns
        await asyncio.sleep(0.01)
        if not server.protocol._request_futures:
            break
    answers = {m.get("id"): m for m in writer.messages() if "method" not in m}
    return answers, server


@pytest.mark.parametrize(
    ("message", "code", "reason"),
    [
        (inline(1, {"line": -1, "character": -5}), -32602, "should be in range"),
        (
            inline(1, {"line": 0, "character": 0}, doc=False),
            -32602,
            "params.textDocument: required",
        ),
        (inline(1, {"line": "x", "character": None}), -32602, "params.position.line: invalid"),
        (request(1, INLINE, None), -32602, "params: invalid value"),
        (request(1, "textDocument/codeAction", {"textDocument": {"uri": URI}}), -32602, "range"),
        (inline(1, {"line": 9, "character": 0}), -32602, "line 9 is past the end"),
        (
            request(
                1,
                "textDocument/codeAction",
                {
                    "textDocument": {"uri": URI},
                    "range": {
                        "start": {"line": 0, "character": 0},
                        "end": {"line": 7, "character": 0},
                    },
                    "context": {"diagnostics": []},
                },
            ),
            -32602,
            "line 7 is past the end",
        ),
        (
            request(
                1, "workspace/executeCommand", {"command": "infill.fixFunction", "arguments": [5]}
            ),
            -32602,
            "expected one argument",
        ),
        (request(1, "codeAction/resolve", {"title": "Fix", "data": None}), -32602, "malformed"),
        (request(1, "no/suchMethod", {}), -32601, "no/suchMethod"),
    ],
    ids=[
        "negative position",
        "no textDocument",
        "wrong types",
        "params null",
        "codeAction without range",
        "line past the end",
        "codeAction past the end",
        "command arguments",
        "resolve without data",
        "unknown method",
    ],
)
async def test_a_bad_request_is_answered_with_an_error_saying_why(message, code, reason):
    answers, _ = await exchange(message)
    error = answers[1]["error"]
    assert error["code"] == code
    assert reason in error["message"]


async def test_the_requests_after_a_bad_one_are_served():
    answers, _ = await exchange(
        inline(1, {"line": "x", "character": 0}),
        request(2, "infill/status", {}),
        inline(3, {"line": 0, "character": 99}),  # clamped: answered (empty, no model)
    )
    assert answers[1]["error"]["code"] == -32602
    assert answers[2]["result"]["state"] == "starting"
    assert answers[3]["result"] == {"items": []}


async def test_a_body_that_is_not_json_is_answered_with_a_parse_error():
    answers, _ = await exchange("{not json", request(2, "infill/status", {}))
    assert answers[None]["error"]["code"] == -32700
    assert "result" in answers[2]


async def test_requests_after_shutdown_are_refused_not_dropped():
    answers, _ = await exchange(request(1, "shutdown", None), request(2, "infill/status", {}))
    assert answers[1]["result"] is None
    assert answers[2]["error"]["code"] == -32600
    assert "shutting down" in answers[2]["error"]["message"]


async def test_an_answer_that_cannot_be_serialized_becomes_an_internal_error():
    server = build_server()
    writer = Writer()
    server.protocol.set_writer(writer)
    server.protocol._send_response(7, result={"path": object()})
    (answer,) = writer.messages()
    assert answer["id"] == 7 and answer["error"]["code"] == -32603
    assert "could not serialize" in answer["error"]["message"]


async def test_a_malformed_response_from_the_client_fails_our_pending_request():
    server = build_server()
    server.protocol.set_writer(Writer())
    params = types.ApplyWorkspaceEditParams(edit=types.WorkspaceEdit())
    future = server.protocol.send_request("workspace/applyEdit", params)
    result = {"applied": True, "failedChange": "the third"}
    body = {"jsonrpc": "2.0", "id": future_id(server), "result": result}
    message = json.loads(json.dumps(body), object_hook=server.protocol.structure_message)
    server.protocol.handle_message(message)
    with pytest.raises(Exception, match="failedChange"):
        future.result(timeout=1)


def future_id(server) -> Any:
    (msg_id,) = server.protocol._request_futures
    return msg_id


async def test_status_tells_what_the_server_holds_of_a_document():
    """Incremental edits across a form feed land where the client meant them; the digest in
    ``infill/status`` lets a client check the copies agree."""
    import hashlib

    edit = {
        "textDocument": {"uri": URI, "version": 2},
        "contentChanges": [
            {
                "range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}},
                "text": "\x0c",
            },
            {
                "range": {
                    "start": {"line": 1, "character": 4},
                    "end": {"line": 1, "character": 10},
                },
                "text": "pass",
            },
        ],
    }
    answers, _ = await exchange(
        notification("textDocument/didChange", edit),
        request(1, "infill/status", {"textDocument": {"uri": URI}}),
    )
    expected = "\x0cdef f(x):\n    pass x\n"
    document = answers[1]["result"]["document"]
    assert document["sha256"] == hashlib.sha256(expected.encode()).hexdigest()
    assert document["version"] == 2 and document["outOfSync"] is None


async def test_bodies_that_are_no_json_rpc_message_are_answered():
    frames = [
        {"id": 1, "method": "infill/status", "params": {}},  # no "jsonrpc"
        [request(2, "infill/status", {})],  # a batch
        b"\xff\xfe not UTF-8",
    ]
    server = build_server()
    writer = Writer()
    server.protocol.set_writer(writer)
    reader = asyncio.StreamReader()
    for body in frames:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        reader.feed_data(f"Content-Length: {len(data)}\r\n\r\n".encode() + data)
    reader.feed_eof()
    await run_async(threading.Event(), reader, server.protocol, None, server.report_server_error)
    answers = writer.messages()
    assert answers[0]["id"] == 1 and answers[0]["error"]["code"] == -32600
    assert answers[1]["id"] is None and "batch" in answers[1]["error"]["message"]
    assert answers[2]["id"] is None and answers[2]["error"]["code"] == -32700
    assert len(answers) == 3  # and no "Error in server" pop-up


async def test_an_edit_that_does_not_deserialize_holds_the_document_out_of_sync():
    edit = {
        "textDocument": {"uri": URI, "version": 2},
        "contentChanges": [{"range": {"start": {"line": -1, "character": 0}}, "text": "x"}],
    }
    answers, _ = await exchange(
        notification("textDocument/didChange", edit),
        request(1, "infill/status", {"textDocument": {"uri": URI}}),
    )
    assert "could not be read" in answers[1]["result"]["document"]["outOfSync"]
