"""A loopback HTTP proxy for the remote-engine tests: forwards every request to the engine,
streams the answer back, and keeps each request body: what left the machine."""

from __future__ import annotations

import http.client
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class RecordingProxy:
    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.bodies: list[dict[str, Any]] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: object) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    proxy.bodies.append(json.loads(raw))
                except ValueError:
                    proxy.bodies.append({"raw": raw.decode("utf-8", "replace")})
                upstream = http.client.HTTPConnection("127.0.0.1", proxy.target_port, timeout=120)
                try:
                    upstream.request("POST", self.path, body=raw, headers=dict(self.headers))
                    answer = upstream.getresponse()
                except OSError:
                    self.send_error(502, "engine unreachable")
                    return
                self.send_response(answer.status)
                kind = answer.getheader("Content-Type") or "application/json"
                self.send_header("Content-Type", kind)
                self.end_headers()  # HTTP/1.0: the end of the answer closes the connection
                try:
                    while chunk := answer.read1(65536):
                        self.wfile.write(chunk)
                        self.wfile.flush()
                except OSError:
                    pass  # the client closed the stream (it stopped early)
                finally:
                    upstream.close()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
