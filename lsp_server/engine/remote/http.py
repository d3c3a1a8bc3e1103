"""A small HTTP/1.1 client for remote engines (stdlib only): JSON requests, streamed answers
(server-sent events or JSON lines), cancellation that closes the connection, retries with
backoff for failures where nothing reached the engine, and errors a user can act on.

A streamed answer is watched for silence (``_Silence``): an engine that says nothing for a
while is asked whether it is alive (``Http.alive``, its /health). A busy engine (a CPU
llama-server evaluating a cold prompt sends nothing for 5-20 s) answers that from its HTTP
threads and is waited for; a hung one (accepts connections, answers nothing) does not, and the
request is aborted at once instead of holding a worker for the whole timeout.

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
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from lsp_server.engine.base import Cancelled, CancelToken, EngineError

log = logging.getLogger(__name__)

RETRY_DELAYS_S = (0.2, 0.6)  # connection failures: the engine never saw the request
# Asking a silent engine whether it is alive (its /health, connection included): a live engine
# answers at once, even busy, but its HTTP threads may all be taken (llama-server's few serve
# the streaming requests too) and a TLS link costs handshakes: 2 s, against the seconds a hung
# engine costs each request otherwise (the discovery questions allow 3 s for real work).
HEALTH_TIMEOUT_S = 2.0


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
        silence: _Silence | None = None,
    ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        """Send the request and read the status line; retried (with backoff) only when the
        connection itself failed, i.e. the engine never received the request. The client's
        ``timeout_s`` bounds every wait for the engine; with ``silence`` (a streamed answer)
        the connection is handed to it and the wait for the status line is watched: the
        connection itself must then be made within the watch's quiet time (a busy engine's
        kernel still accepts at once), and a hung engine's request is aborted."""
        data = json.dumps(body).encode("utf-8") if body is not None else None
        attempt = 0
        while True:
            if cancel is not None:
                cancel.check()
            connect_s = self.timeout_s if silence is None else silence.connect_s
            conn = self._connection(connect_s)
            try:
                conn.connect()
                if conn.sock is not None and connect_s != self.timeout_s:
                    conn.sock.settimeout(self.timeout_s)
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                if attempt < len(RETRY_DELAYS_S):
                    time.sleep(RETRY_DELAYS_S[attempt])
                    attempt += 1
                    continue
                raise RemoteError(
                    f"cannot reach the engine at {self.url}: {_reason(exc)}", unreachable=True
                ) from exc
            if silence is not None:
                silence.watch(conn)  # a cancellation from now on aborts the connection
            if cancel is not None and cancel.cancelled:  # while connecting: nothing aborted
                _close(conn, silence)
                raise Cancelled(cancel.reason)
            try:
                conn.request(method, self.base + path, body=data, headers=self._headers(stream))
                response = conn.getresponse()
            except (OSError, http.client.HTTPException) as exc:
                _close(conn, silence)
                if cancel is not None and cancel.cancelled:
                    raise Cancelled(cancel.reason) from exc
                if silence is not None and silence.hung:
                    raise silence.error("accepted the request but does not answer") from exc
                if isinstance(exc, TimeoutError):  # accepted, then silence
                    raise RemoteError(
                        f"the engine at {self.url} did not answer within {self.timeout_s:g} s",
                        unreachable=True,
                    ) from exc
                raise RemoteError(
                    f"the engine at {self.url} dropped the request: {_reason(exc)}",
                    unreachable=True,
                ) from exc
            if silence is not None:
                silence.heard()
            if response.status >= 400:
                detail = response.read(2000).decode("utf-8", errors="replace")
                _close(conn, silence)
                # 502/503/504: a gateway in front of a dead engine, or an engine still loading
                down = response.status in (502, 503, 504)
                raise RemoteError(self._explain(response.status, detail), unreachable=down)
            return conn, response

    def alive(self) -> bool:
        """Whether the engine answers at all: a GET on its /health answered with any status
        line (200, 404, 503...) within ``HEALTH_TIMEOUT_S``. llama-server, vLLM and TGI answer
        /health from their HTTP threads while busy generating; Ollama answers 404 at once. A
        refused, reset or unanswered connection: the engine is not there, or hung."""
        conn = self._connection(min(HEALTH_TIMEOUT_S, self.timeout_s))
        try:
            conn.request("GET", self.base + "/health", headers=self._headers(False))
            conn.getresponse()
            return True
        except (OSError, http.client.HTTPException):
            return False
        finally:
            conn.close()

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
        self, path: str, body: Any, cancel: CancelToken, quiet_s: float | None = None
    ) -> Iterator[dict[str, Any]]:
        """The events of a streamed answer (SSE ``data:`` lines or JSON lines), until the
        stream ends. Cancelling closes the connection (while waiting for the answer's start
        too): the engine stops generating. ``quiet_s``: how long the engine may say nothing
        (before the answer's start, then between lines) before it is asked whether it is
        alive (``alive``); one that is not is hung, and the request fails at once as
        unreachable. A live engine is waited for up to the client's ``timeout_s``."""
        silence = _Silence(self, quiet_s)
        remove = cancel.on_cancel(silence.abort)
        try:
            _conn, response = self._open("POST", path, body, True, cancel, silence)
            for raw in _lines(response):
                silence.heard()
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
            if silence.hung:
                raise silence.error("stopped answering") from exc
            if isinstance(exc, TimeoutError):
                raise RemoteError(
                    f"the engine at {self.url} stopped answering "
                    f"(nothing for {self.timeout_s:g} s)",
                    unreachable=True,
                ) from exc
            raise RemoteError(
                f"the engine at {self.url} broke off: {_reason(exc)}", unreachable=True
            ) from exc
        finally:
            remove()
            silence.close()
        if cancel.cancelled:
            raise Cancelled(cancel.reason)
        if silence.hung:  # the aborted connection read as the stream's end
            raise silence.error("stopped answering")


class _Silence:
    """One streamed request's connection, watched for silence by a helper thread: after
    ``quiet_s`` without a line from the engine (or its status line, while waiting for the
    answer's start) it asks whether the engine is alive (``Http.alive``). Alive: it waits on
    (and asks again after each further ``quiet_s``), the socket timeout bounds the request.
    Not alive: the engine is hung; ``hung`` is set and the connection shut down, so the read
    blocked on it ends at once. ``abort`` is cancellation's way to end the request too.

    ``close`` ends the watch: after it no abort touches the connection (the lock orders the
    two), so a request that completes while its engine is being asked never fails for it.
    """

    def __init__(self, client: Http, quiet_s: float | None) -> None:
        self._http = client
        # none as long as the socket timeout or longer: that timeout ends the silence first
        on = quiet_s is not None and 0 < quiet_s < client.timeout_s
        self.quiet_s = quiet_s if on else None
        # a live engine's kernel accepts at once, busy or not
        self.connect_s = self.quiet_s if self.quiet_s is not None else client.timeout_s
        self.hung = False
        self._lock = threading.Lock()
        self._conn: http.client.HTTPConnection | None = None
        # its socket: http.client lets go of it (``conn.sock`` None) once a response that
        # ends with the connection has started, the response's reader keeps it open
        self._sock: socket.socket | None = None
        self._closed = False
        self._stop = threading.Event()
        self._since = time.monotonic()  # the last sign of life: a line, /health answered
        self._thread: threading.Thread | None = None

    def watch(self, conn: http.client.HTTPConnection) -> None:
        """The request's connection, from now on (a retry opens another)."""
        with self._lock:
            if self._closed:
                return
            self._conn, self._sock = conn, conn.sock
        self.heard()
        if self.quiet_s is not None and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="engine-silence", daemon=True)
            self._thread.start()

    def heard(self) -> None:
        """A sign of life from the engine."""
        self._since = time.monotonic()

    def _run(self) -> None:
        assert self.quiet_s is not None
        while not self._stop.wait(max(0.0, self._since + self.quiet_s - time.monotonic())):
            if time.monotonic() - self._since < self.quiet_s:
                continue  # a line came meanwhile
            if self._http.alive():
                self.heard()  # busy: wait on, ask again after another quiet_s
                continue
            with self._lock:
                if self._closed:
                    return
                self.hung = True
            self.abort()
            return

    def abort(self) -> None:
        """Shut the connection down: a read blocked on it ends at once."""
        with self._lock:
            if self._closed or self._sock is None:
                return
            with contextlib.suppress(OSError):  # closed meanwhile
                self._sock.shutdown(socket.SHUT_RDWR)

    def error(self, what: str) -> RemoteError:
        return RemoteError(
            f"the engine at {self._http.url} {what} (nothing for {self.quiet_s:g} s, "
            f"not even /health within {min(HEALTH_TIMEOUT_S, self._http.timeout_s):g} s)",
            unreachable=True,
        )

    def forget(self, conn: http.client.HTTPConnection) -> None:
        """``conn`` is about to be closed: no abort touches it from now on."""
        with self._lock:
            if self._conn is conn:
                self._conn, self._sock = None, None

    def close(self) -> None:
        """End the watch and close the connection."""
        self._stop.set()
        with self._lock:
            self._closed = True
            conn, self._conn, self._sock = self._conn, None, None
        if conn is not None:
            conn.close()


def _close(conn: http.client.HTTPConnection, silence: _Silence | None) -> None:
    if silence is not None:
        silence.forget(conn)
    conn.close()


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
