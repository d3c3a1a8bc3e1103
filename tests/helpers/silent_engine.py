"""A remote engine that accepts every request and never answers (hung, or its queue stuck)
until told to speak; then an OpenAI-compatible engine streaming a fixed completion."""

from __future__ import annotations

import contextlib
import json
import threading
from http.server import BaseHTTPRequestHandler

from tests.helpers.http_stub import HttpStub


class SilentEngine(HttpStub):
    def __init__(self, text: str = "a + b") -> None:
        self.text = text
        self.spoken = threading.Event()  # set: requests are answered
        self.requests = 0
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_a: object) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                stub.requests += 1
                stub.spoken.wait()  # the connection stays open, the request unanswered
                events = [
                    {"choices": [{"text": stub.text, "finish_reason": None}]},
                    {"choices": [{"text": "", "finish_reason": "stop"}]},
                ]
                body = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                with contextlib.suppress(OSError):  # the client may have given up long ago
                    self.wfile.write(body.encode())

        self.serve(Handler)

    def speak(self) -> None:
        self.spoken.set()

    def close(self) -> None:
        self.spoken.set()  # let the handlers still waiting end
        super().close()
