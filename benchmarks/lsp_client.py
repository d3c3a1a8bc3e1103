"""A small synchronous LSP client over stdio, for benchmarks (B1 quality, B2 typing replay).

Why hand-written rather than ``pygls.lsp.client.LanguageClient``: benchmarks want a blocking API
(one request, one measured latency), requests that can be left in flight and cancelled (B2
replays keystrokes the way an editor does), and precise crash reporting. A reader thread parses
JSON-RPC frames and resolves one ``Future`` per request; that is all the machinery needed.

Robustness:
- the server's stderr goes straight to a log file (never a pipe), so it can never fill up and
  deadlock the server;
- if the server exits, every pending and future request fails with ``ServerCrashed`` carrying the
  exit code and the tail of that log;
- requests the server sends us (``window/workDoneProgress/create``,
  ``workspace/configuration``, ``client/registerCapability``) are answered so it never waits.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any

SERVER_CMD = [sys.executable, "-m", "lsp_server"]
STATUS_METHOD = "infill/status"
INVOKED, AUTOMATIC = 1, 2  # InlineCompletionTriggerKind


class LspError(RuntimeError):
    """The server answered a request with a JSON-RPC error."""

    def __init__(self, method: str, error: dict[str, Any]) -> None:
        super().__init__(f"{method}: {error.get('code')} {error.get('message')}")
        self.code = error.get("code")
        self.error = error


class ServerCrashed(RuntimeError):
    """The server process ended (or closed stdout) while we still needed it."""


def utf16_position(text: str, offset: int) -> tuple[int, int]:
    """(line, UTF-16 character) of a Python string offset, as LSP wants positions."""
    line = text.count("\n", 0, offset)
    start = text.rfind("\n", 0, offset) + 1
    column = text[start:offset]
    return line, len(column.encode("utf-16-le")) // 2


def offset_of(text: str, line: int, character: int) -> int:
    """Python string offset of an LSP (line, UTF-16 character) position; clamped to the line."""
    start = 0
    for _ in range(line):
        found = text.find("\n", start)
        if found < 0:
            return len(text)
        start = found + 1
    end = text.find("\n", start)
    row = text[start : end if end >= 0 else len(text)]
    units = 0
    for i, char in enumerate(row):
        if units >= character:
            return start + i
        units += 2 if ord(char) > 0xFFFF else 1
    return start + len(row)


def apply_edits(text: str, edits: list[dict[str, Any]]) -> str:
    """Apply LSP TextEdits the way an editor does: all against the original text."""
    spans = []
    for edit in edits:
        r = edit["range"]
        a = offset_of(text, r["start"]["line"], r["start"]["character"])
        b = offset_of(text, r["end"]["line"], r["end"]["character"])
        spans.append((a, b, edit["newText"]))
    for a, b, new in sorted(spans, key=lambda s: s[0], reverse=True):
        text = text[:a] + new + text[b:]
    return text


class LspClient:
    """Starts the server, speaks JSON-RPC to it, and exposes the calls benchmarks need."""

    def __init__(
        self,
        command: list[str] | None = None,
        *,
        init_options: dict[str, Any] | None = None,
        stderr_log: str | Path = "infill-lsp-server.log",
        cwd: str | Path | None = None,
        on_notification: Callable[[str, Any], None] | None = None,
    ) -> None:
        self.command = command or SERVER_CMD
        self.init_options = init_options or {}
        self.stderr_log = Path(stderr_log)
        self.cwd = cwd
        self.on_notification = on_notification
        self.messages: deque[str] = deque(maxlen=200)  # window/logMessage + showMessage text
        self.shown: list[str] = []  # window/showMessage only: what a user would see
        self._ids = itertools.count(1)
        self._pending: dict[int, tuple[str, Future]] = {}
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._dead: ServerCrashed | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._log_fh: Any = None

    # -- process --------------------------------------------------------------------------
    def start(self) -> LspClient:
        self.stderr_log.parent.mkdir(parents=True, exist_ok=True)
        self._log_fh = open(self.stderr_log, "wb")  # noqa: SIM115 - lives as long as the server
        self._proc = subprocess.Popen(
            self.command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log_fh,
            cwd=self.cwd,
        )
        self._reader = threading.Thread(target=self._read_loop, name="lsp-reader", daemon=True)
        self._reader.start()
        return self

    @property
    def pid(self) -> int | None:
        """The server process's id (None before ``start``): for /proc readings such as RSS."""
        return self._proc.pid if self._proc is not None else None

    def __enter__(self) -> LspClient:
        return self.start() if self._proc is None else self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def stderr_tail(self, lines: int = 40) -> str:
        try:
            text = self.stderr_log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _crash(self, why: str) -> ServerCrashed:
        code = self._proc.poll() if self._proc else None
        if code is None and self._proc is not None:
            try:
                code = self._proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                code = None
        return ServerCrashed(
            f"language server {why} (exit code {code}); last lines of {self.stderr_log}:\n"
            f"{self.stderr_tail()}"
        )

    # -- framing --------------------------------------------------------------------------
    def _send(self, message: dict[str, Any]) -> None:
        if self._dead is not None:
            raise self._dead
        assert self._proc is not None and self._proc.stdin is not None, "call start() first"
        body = json.dumps(message, separators=(",", ":")).encode("utf-8")
        frame = b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        try:
            with self._write_lock:
                self._proc.stdin.write(frame)
                self._proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            raise self._crash("stopped reading its input") from None

    def _read_frame(self, stream: Any) -> dict[str, Any] | None:
        length = None
        while True:
            header = stream.readline()
            if not header:
                return None
            header = header.strip()
            if not header:
                break
            name, _, value = header.decode("ascii").partition(":")
            if name.lower() == "content-length":
                length = int(value.strip())
        if length is None:
            raise ValueError("frame without Content-Length")
        body = stream.read(length)
        if len(body) < length:
            return None
        return json.loads(body)

    def _read_loop(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        why = "closed its output"
        try:
            while (message := self._read_frame(self._proc.stdout)) is not None:
                self._dispatch(message)
        except Exception as exc:  # a protocol error is as fatal as a crash, say which
            why = f"sent an unreadable message ({exc!r})"
        self._dead = self._crash(why)
        with self._lock:
            pending, self._pending = self._pending, {}
        for _method, future in pending.values():
            future.set_exception(self._dead)

    def _dispatch(self, message: dict[str, Any]) -> None:
        if "method" not in message:  # a response
            with self._lock:
                method, future = self._pending.pop(message.get("id"), (None, None))
            if future is None:
                return
            if "error" in message:
                future.set_exception(LspError(method or "?", message["error"]))
            else:
                future.set_result(message.get("result"))
            return
        method, params = message["method"], message.get("params")
        if "id" in message:  # a request from the server: answer so it never blocks on us
            result: Any = None
            if method == "workspace/configuration":
                result = [self.init_options for _ in (params or {}).get("items", [])]
            self._send({"jsonrpc": "2.0", "id": message["id"], "result": result})
            return
        if method in ("window/logMessage", "window/showMessage"):
            self.messages.append(params.get("message", ""))
            if method == "window/showMessage":
                self.shown.append(params.get("message", ""))
        if self.on_notification is not None:
            self.on_notification(method, params)

    # -- JSON-RPC -------------------------------------------------------------------------
    def send_request(self, method: str, params: Any = None) -> tuple[int, Future]:
        """Fire a request and return (id, future) without waiting: for cancellable requests."""
        request_id = next(self._ids)
        future: Future = Future()
        with self._lock:
            if self._dead is not None:
                raise self._dead
            self._pending[request_id] = (method, future)
        self._send({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
        return request_id, future

    def request(self, method: str, params: Any = None, timeout: float = 120.0) -> Any:
        request_id, future = self.send_request(method, params)
        try:
            return future.result(timeout)
        except FutureTimeout:
            with self._lock:
                self._pending.pop(request_id, None)
            raise TimeoutError(f"{method} got no answer within {timeout:.0f} s") from None

    def notify(self, method: str, params: Any = None) -> None:
        self._send({"jsonrpc": "2.0", "method": method, "params": params})

    def cancel(self, request_id: int) -> None:
        self.notify("$/cancelRequest", {"id": request_id})

    # -- lifecycle ------------------------------------------------------------------------
    def initialize(self, timeout: float = 60.0, root: Path | None = None) -> dict[str, Any]:
        """``root``: the workspace folder (the server indexes it for cross-file context)."""
        capabilities = {
            "general": {"positionEncodings": ["utf-16"]},
            "textDocument": {
                "synchronization": {"dynamicRegistration": False, "didSave": False},
                "inlineCompletion": {"dynamicRegistration": False},
                "codeAction": {"dataSupport": True, "resolveSupport": {"properties": ["edit"]}},
            },
            "window": {"workDoneProgress": True, "showMessage": {}},
            "workspace": {
                "configuration": False,
                "workspaceEdit": {"documentChanges": True},
            },
        }
        result = self.request(
            "initialize",
            {
                "processId": None,
                "clientInfo": {"name": "infill-lsp-benchmarks"},
                "rootUri": root.as_uri() if root else None,
                "workspaceFolders": [{"uri": root.as_uri(), "name": root.name}] if root else None,
                "capabilities": capabilities,
                "initializationOptions": self.init_options,
            },
            timeout,
        )
        self.notify("initialized", {})
        return result

    def status(self, timeout: float = 30.0) -> dict[str, Any]:
        return self.request(STATUS_METHOD, {}, timeout)

    def wait_ready(self, timeout: float = 600.0, poll_s: float = 0.5) -> dict[str, Any]:
        """Poll ``infill/status`` until the model is loaded; raise with the server's reason."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.status()
            state = status.get("state")
            if state == "ready":
                return status
            if state in ("error", "disabled"):
                raise RuntimeError(f"server state {state}: {status.get('message')}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"model not ready after {timeout:.0f} s (state {state})")
            time.sleep(poll_s)

    def stop(self, timeout: float = 10.0) -> int | None:
        """shutdown + exit; kill the process if it does not go. Returns the exit code."""
        if self._proc is None:
            return None
        if self._dead is None and self._proc.poll() is None:
            try:
                self.request("shutdown", None, timeout)
                self.notify("exit")
            except (ServerCrashed, TimeoutError, LspError):
                pass
        try:
            code = self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            code = self._proc.wait()
        if self._log_fh is not None:
            self._log_fh.close()
        return code

    # -- documents ------------------------------------------------------------------------
    def open(self, uri: str, text: str, language_id: str = "python", version: int = 1) -> None:
        self.notify(
            "textDocument/didOpen",
            {
                "textDocument": {
                    "uri": uri,
                    "languageId": language_id,
                    "version": version,
                    "text": text,
                }
            },
        )

    def change_full(self, uri: str, text: str, version: int) -> None:
        self.notify(
            "textDocument/didChange",
            {"textDocument": {"uri": uri, "version": version}, "contentChanges": [{"text": text}]},
        )

    def change(
        self, uri: str, version: int, start: tuple[int, int], end: tuple[int, int], text: str
    ) -> None:
        """Incremental change: replace the (line, UTF-16 character) range ``start``-``end``."""
        rng = {
            "start": {"line": start[0], "character": start[1]},
            "end": {"line": end[0], "character": end[1]},
        }
        self.notify(
            "textDocument/didChange",
            {
                "textDocument": {"uri": uri, "version": version},
                "contentChanges": [{"range": rng, "text": text}],
            },
        )

    def close(self, uri: str) -> None:
        self.notify("textDocument/didClose", {"textDocument": {"uri": uri}})

    # -- completions ----------------------------------------------------------------------
    @staticmethod
    def inline_params(uri: str, line: int, character: int, trigger: int = INVOKED) -> dict:
        return {
            "textDocument": {"uri": uri},
            "position": {"line": line, "character": character},
            "context": {"triggerKind": trigger},
        }

    @staticmethod
    def first_insert_text(result: Any) -> str:
        """insertText of the first item ("" if none); takes a list or an InlineCompletionList."""
        items = result.get("items", []) if isinstance(result, dict) else (result or [])
        if not items:
            return ""
        text = items[0].get("insertText", "")
        return text.get("value", "") if isinstance(text, dict) else text  # StringValue snippet

    def inline_completion(
        self,
        uri: str,
        line: int,
        character: int,
        *,
        trigger: int = INVOKED,
        timeout: float = 120.0,
    ) -> tuple[str, float]:
        """(insert text or "", client-side latency in ms) for one invoked inline completion."""
        started = time.perf_counter()
        result = self.request(
            "textDocument/inlineCompletion",
            self.inline_params(uri, line, character, trigger),
            timeout,
        )
        latency_ms = (time.perf_counter() - started) * 1000
        return self.first_insert_text(result), latency_ms
