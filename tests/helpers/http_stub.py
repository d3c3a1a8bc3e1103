"""A loopback HTTP server on a free port, serving a ``BaseHTTPRequestHandler`` class from a
daemon thread: the base of the remote engines' stub servers."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class JsonHandler(BaseHTTPRequestHandler):
    """A quiet handler with one way to answer: ``send(status, payload, kind)``, a payload that
    is ``bytes`` as it is (a streamed answer), else as JSON; a client that gave up is fine."""

    def log_message(self, *_a: object) -> None:
        pass

    def send(self, status: int, payload: object, kind: str = "application/json") -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        with contextlib.suppress(OSError):
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)


@contextlib.contextmanager
def stubs_of(cls: type[HttpStub]) -> Iterator[Callable[..., Any]]:
    """A factory of ``cls`` stubs (keyword arguments to its constructor), all closed after."""
    made: list[HttpStub] = []

    def make(**kw: Any) -> Any:
        made.append(cls(**kw))
        return made[-1]

    try:
        yield make
    finally:
        for stub in made:
            stub.close()


class HttpStub:
    def serve(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class RoutesStub(HttpStub):
    """A stub engine answering each ``(method, path)`` of ``routes`` with ``(status, JSON)``,
    or with a callable of the request's JSON body returning that; any other path: 404. A
    payload that is ``bytes`` is sent as is (a streamed answer: ``kind``). Records each
    request as ``{"method", "path", **body}`` in ``requests``."""

    def __init__(self, routes: dict[tuple[str, str], object], kind: str = "text/event-stream"):
        self.routes = routes
        self.requests: list[dict] = []
        stub = self

        class Handler(JsonHandler):
            def _answer(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else {}
                stub.requests.append({"method": method, "path": self.path, **body})
                route = stub.routes.get((method, self.path), (404, {"error": "not found"}))
                status, payload = route(body) if callable(route) else route
                streamed = isinstance(payload, bytes)
                self.send(status, payload, kind if streamed else "application/json")

            def do_GET(self) -> None:
                self._answer("GET")

            def do_POST(self) -> None:
                self._answer("POST")

        self.serve(Handler)

    def asked(self, path: str) -> list[dict]:
        return [r for r in self.requests if r["path"] == path]
