"""A small HTTP/1.1 client for remote engines (stdlib only): JSON requests, streamed answers
(server-sent events or JSON lines), cancellation that closes the connection, retries with
backoff for failures where nothing reached the engine, and errors a user can act on.

Nothing here runs unless a remote engine is configured: the in-process model never opens a
socket.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import os
import socket
import ssl
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from lsp_server.engine.base import Cancelled, CancelToken, EngineError

log = logging.getLogger(__name__)

RETRY_DELAYS_S = (0.2, 0.6)  # connection failures: the engine never saw the request


class RemoteError(EngineError):
    """The engine answered with an error, or could not be reached (``unreachable``: at the
    connection level, the engine is down or restarting).

    The remote code's own name for ``EngineError``: callers above the engine catch
    ``EngineError`` and never need to import this module.
    """


class Http:
    def __init__(self, url: str, *, api_key: str = "", timeout_s: float = 30.0) -> None:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"remote engine URL must be http(s)://host[:port][/path], got {url!r}")
        self.url = url
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.base = parts.path.rstrip("/")
        self.api_key = api_key
        self.timeout_s = timeout_s

    def _connection(self, timeout_s: float) -> http.client.HTTPConnection:
        if self.scheme == "https":
            return http.client.HTTPSConnection(
                self.host, self.port, timeout=timeout_s, context=ssl.create_default_context()
            )
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout_s)

    def _headers(self, stream: bool) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "User-Agent": "infill-lsp"}
        headers["Accept"] = "text/event-stream" if stream else "application/json"
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    def _open(
        self,
        method: str,
        path: str,
        body: Any,
        stream: bool,
        cancel: CancelToken | None,
        timeout_s: float | None = None,
    ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        """Send the request and read the status line; retried (with backoff) only when the
        connection itself failed, i.e. the engine never received the request. ``timeout_s``
        (default: the client's) bounds the connection and every wait for the engine: an
        engine that accepts the request and never answers is "unreachable" after it."""
        data = json.dumps(body).encode("utf-8") if body is not None else None
        timeout_s = self.timeout_s if timeout_s is None else timeout_s
        attempt = 0
        while True:
            if cancel is not None:
                cancel.check()
            conn = self._connection(timeout_s)
            try:
                conn.connect()
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                if attempt < len(RETRY_DELAYS_S):
                    time.sleep(RETRY_DELAYS_S[attempt])
                    attempt += 1
                    continue
                raise RemoteError(
                    f"cannot reach the engine at {self.url}: {_reason(exc)}", unreachable=True
                ) from exc
            try:
                conn.request(method, self.base + path, body=data, headers=self._headers(stream))
                response = conn.getresponse()
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                if cancel is not None and cancel.cancelled:
                    raise Cancelled(cancel.reason) from exc
                if isinstance(exc, TimeoutError):  # accepted, then silence
                    raise RemoteError(
                        f"the engine at {self.url} did not answer within {timeout_s:g} s",
                        unreachable=True,
                    ) from exc
                raise RemoteError(
                    f"the engine at {self.url} dropped the request: {_reason(exc)}",
                    unreachable=True,
                ) from exc
            if response.status >= 400:
                detail = response.read(2000).decode("utf-8", errors="replace")
                conn.close()
                # 502/503/504: a gateway in front of a dead engine, or an engine still loading
                down = response.status in (502, 503, 504)
                raise RemoteError(self._explain(response.status, detail), unreachable=down)
            return conn, response

    def _explain(self, status: int, detail: str) -> str:
        if status in (401, 403):
            return (
                f"the engine at {self.url} refused the API key (HTTP {status}); set it in the "
                "environment variable named by remoteApiKeyEnv"
            )
        if status == 404:
            return f"the engine at {self.url} has no such endpoint or model (HTTP 404): {detail}"
        return f"the engine at {self.url} answered HTTP {status}: {detail[:300]}"

    def request_json(
        self, method: str, path: str, body: Any = None, cancel: CancelToken | None = None
    ) -> Any:
        conn, response = self._open(method, path, body, False, cancel)
        try:
            raw = response.read()
        except (OSError, http.client.HTTPException) as exc:
            raise RemoteError(f"the engine at {self.url} broke off: {_reason(exc)}") from exc
        finally:
            conn.close()
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise RemoteError(f"the engine at {self.url} did not answer JSON") from exc

    def stream(
        self, path: str, body: Any, cancel: CancelToken, timeout_s: float | None = None
    ) -> Iterator[dict[str, Any]]:
        """The events of a streamed answer (SSE ``data:`` lines or JSON lines), until the
        stream ends. Cancelling closes the connection: the engine stops generating.
        ``timeout_s`` (default: the client's) bounds each wait for the engine, the answer's
        start and then every line."""
        timeout_s = self.timeout_s if timeout_s is None else timeout_s
        conn, response = self._open("POST", path, body, True, cancel, timeout_s)

        def abort() -> None:
            with contextlib.suppress(OSError):
                if conn.sock is not None:
                    conn.sock.shutdown(socket.SHUT_RDWR)

        remove = cancel.on_cancel(abort)
        try:
            for raw in _lines(response):
                if cancel.cancelled:
                    raise Cancelled(cancel.reason)
                line = raw.strip()
                if not line or line.startswith(b":"):
                    continue  # SSE comments / keep-alives
                if line.startswith(b"data:"):
                    line = line[5:].strip()
                    if line == b"[DONE]":
                        return
                elif line.startswith((b"event:", b"id:", b"retry:")):
                    continue
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if isinstance(event, dict) and event.get("error"):
                    raise RemoteError(f"the engine at {self.url}: {event['error']}")
                yield event
        except (OSError, http.client.HTTPException) as exc:
            if cancel.cancelled:
                raise Cancelled(cancel.reason) from exc
            if isinstance(exc, TimeoutError):
                raise RemoteError(
                    f"the engine at {self.url} stopped answering (nothing for {timeout_s:g} s)",
                    unreachable=True,
                ) from exc
            raise RemoteError(
                f"the engine at {self.url} broke off: {_reason(exc)}", unreachable=True
            ) from exc
        finally:
            remove()
            conn.close()
        if cancel.cancelled:
            raise Cancelled(cancel.reason)


def _lines(response: http.client.HTTPResponse) -> Iterator[bytes]:
    while True:
        line = response.readline(1 << 20)
        if not line:
            return
        yield line


def _reason(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return str(exc) or type(exc).__name__


def api_key_from(env_name: str) -> str:
    """The API key is only ever read from the environment (never stored in settings files)."""
    return os.environ.get(env_name, "").strip() if env_name else ""
