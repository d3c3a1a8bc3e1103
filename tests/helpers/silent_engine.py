"""Remote engines that say nothing for a while, OpenAI-compatible, streaming a fixed completion:

- ``SilentEngine``: hung (or its queue stuck): accepts every request, its /health too, and
  answers none until told to speak; with ``said``, a completion starts (headers and a first
  piece) and then falls silent.
- ``BusyEngine``: alive and busy (a CPU llama-server evaluating a cold prompt): /health is
  answered at once, a completion only after ``late_s`` (its headers at once with
  ``headers_first``, as llama-server may send them; else nothing until then).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler

from tests.helpers.http_stub import HttpStub


def _events(text: str) -> list[bytes]:
    events = [
        {"choices": [{"text": text, "finish_reason": None}]},
        {"choices": [{"text": "", "finish_reason": "stop"}]},
    ]
    return [f"data: {json.dumps(e)}\n\n".encode() for e in events] + [b"data: [DONE]\n\n"]


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *_a: object) -> None:
        pass

    def start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()

    def health(self) -> None:
        body = b'{"status": "ok"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class SilentEngine(HttpStub):
    def __init__(self, text: str = "a + b", *, said: str = "") -> None:
        self.text = text
        self.spoken = threading.Event()  # set: requests are answered
        self.requests = 0
        self.asked = 0  # /health questions
        stub = self

        class Handler(_Handler):
            def do_GET(self) -> None:
                stub.asked += self.path == "/health"  # not the discovery's questions
                stub.spoken.wait()  # hung: not even /health is answered
                with contextlib.suppress(OSError):  # the client gave up long ago
                    self.health()

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                stub.requests += 1
                with contextlib.suppress(OSError):  # the client may have given up long ago
                    if said:
                        self.start_stream()
                        self.wfile.write(_events(said)[0])
                    stub.spoken.wait()  # the connection stays open, the request unanswered
                    if not said:
                        self.start_stream()
                    self.wfile.write(b"".join(_events(stub.text)))

        self.serve(Handler)

    def speak(self) -> None:
        self.spoken.set()

    def close(self) -> None:
        self.spoken.set()  # let the handlers still waiting end
        super().close()


class BusyEngine(HttpStub):
    def __init__(self, text: str = "a + b", *, late_s: float, headers_first: bool = False):
        self.text = text
        self.requests = 0
        self.asked = 0  # /health questions
        stub = self

        class Handler(_Handler):
            def do_GET(self) -> None:
                stub.asked += self.path == "/health"
                self.health()

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                stub.requests += 1
                with contextlib.suppress(OSError):
                    if headers_first:
                        self.start_stream()
                    time.sleep(late_s)  # evaluating the prompt
                    if not headers_first:
                        self.start_stream()
                    self.wfile.write(b"".join(_events(stub.text)))

        self.serve(Handler)
