"""SIGTERM during a one-shot command: raised as ``Terminated`` in the main thread, but never
while the command writes its answer, which is written whole first."""

from __future__ import annotations

import asyncio
import ctypes
import io
import logging
import os
import signal
import sys
import time

import pytest

from lsp_server import terminate


class SignalledStdout(io.StringIO):
    """stdout that receives SIGTERM in the middle of the answer's write."""

    def write(self, text: str) -> int:
        half = len(text) // 2
        written = super().write(text[:half])
        os.kill(os.getpid(), signal.SIGTERM)
        return written + super().write(text[half:])


def test_sigterm_while_the_answer_is_written_waits_for_its_end(monkeypatch):
    out = SignalledStdout()
    monkeypatch.setattr(sys, "stdout", out)
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(terminate.Terminated), terminate.raising_on_sigterm():
        terminate.answer("--- a.py\n+++ a.py\n@@ -1 +1 @@\n-x = 1\n+x = 0\n")
    assert out.getvalue().endswith("+x = 0\n")  # whole: a patch tool would apply all or none
    assert signal.getsignal(signal.SIGTERM) is before  # put back for whoever ran the command


def test_sigterm_elsewhere_raises_at_once():
    with pytest.raises(terminate.Terminated), terminate.raising_on_sigterm():
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(1000):  # the handler runs between two bytecodes of this thread
            pass
        raise AssertionError("SIGTERM was not raised")


class Unraisable:
    """What ctypes reports, and swallows, of an exception raised in a callback."""

    def __init__(self) -> None:
        self.seen: list[BaseException | None] = []

    def __call__(self, unraisable: sys.UnraisableHookArgs) -> None:
        self.seen.append(unraisable.exc_value)


def wait_for_terminated(seconds: float = 5.0) -> None:
    """The main flow after the C call: SIGTERM must reach it here."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.01)
    raise AssertionError("SIGTERM was lost in the callback")


def test_sigterm_during_a_ctypes_callback_is_raised_after_it_in_the_main_flow(monkeypatch):
    """C code (libc's qsort) calling Python back, as llama.cpp does for every line it logs
    while a model loads: the handler runs in the callback, where ctypes would print and
    swallow ``Terminated``; it is raised in the main flow once the C call has returned."""
    unraisable = Unraisable()
    monkeypatch.setattr(sys, "unraisablehook", unraisable)
    libc = ctypes.CDLL(None)
    compare_type = ctypes.CFUNCTYPE(
        ctypes.c_int, ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int)
    )
    calls = []

    def compare(a, b) -> int:
        if not calls:
            os.kill(os.getpid(), signal.SIGTERM)  # the handler runs here, called from C
        calls.append(1)
        time.sleep(0.001)  # the sort takes a while: deliveries again meet callbacks too
        return a[0] - b[0]

    callback = compare_type(compare)
    numbers = (ctypes.c_int * 64)(*range(64, 0, -1))
    returned = False
    with pytest.raises(terminate.Terminated), terminate.raising_on_sigterm():
        libc.qsort(numbers, len(numbers), ctypes.sizeof(ctypes.c_int), callback)
        returned = True
        wait_for_terminated()
    assert returned and list(numbers) == list(range(1, 65))  # the C call ran to its end
    assert len(calls) > 64 and unraisable.seen == []  # nothing raised in there


def test_sigterm_in_llama_cpps_log_callback_is_raised_after_it(monkeypatch):
    """The callback llama-cpp-python gives llama.cpp for its log, verbose (it prints each
    line): SIGTERM handled while it prints."""
    llama_logger = pytest.importorskip("llama_cpp._logger")
    unraisable = Unraisable()
    monkeypatch.setattr(sys, "unraisablehook", unraisable)
    monkeypatch.setattr(llama_logger.logger, "level", logging.DEBUG)
    lines: list[str] = []

    class Stderr(io.StringIO):
        def write(self, text: str) -> int:
            if not lines:
                os.kill(os.getpid(), signal.SIGTERM)
            lines.append(text)
            return len(text)

    monkeypatch.setattr(sys, "stderr", Stderr())
    with pytest.raises(terminate.Terminated), terminate.raising_on_sigterm():
        llama_logger.llama_log_callback(1, b"llama_model_loader: loaded meta data\n", None)
        llama_logger.llama_log_callback(1, b"print_info: file type = Q4_K - Medium\n", None)
        wait_for_terminated()
    assert "".join(lines).count("\n") == 2 and unraisable.seen == []


def test_no_delivery_again_after_the_command():
    """A SIGTERM deferred out of a callback as the command ends is not delivered to the
    handler put back."""
    got: list[int] = []
    before = signal.signal(signal.SIGTERM, lambda signum, _frame: got.append(signum))
    try:
        with terminate.raising_on_sigterm():
            terminate._deliver_again()
        time.sleep(terminate.REDELIVER_S * 4)
    finally:
        signal.signal(signal.SIGTERM, before)
    assert got == []


def test_the_server_exits_once_the_messages_written_have_left_the_transport(monkeypatch):
    """Over TCP the transport buffers what the socket does not take at once: SIGTERM's exit
    comes after it is sent, not in the middle of a message."""
    exits: list[int] = []
    payload = b"x" * (16 << 20)  # far more than the socket buffers take while nobody reads

    async def main() -> tuple[int, int]:
        received = 0
        done = asyncio.Event()

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(payload)
            assert writer.transport.get_write_buffer_size() > 0  # buffered, not sent
            monkeypatch.setattr(
                terminate, "_exit", lambda: exits.append(writer.transport.get_write_buffer_size())
            )
            terminate._leave(lambda: None, lambda: terminate.drained(writer))
            assert exits == []  # not before the buffer is sent
            await asyncio.sleep(0.1)
            done.set()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await done.wait()
        while received < len(payload):  # the client reads only now
            received += len(await reader.read(1 << 20))
        for _ in range(100):
            if exits:
                break
            await asyncio.sleep(0.01)
        writer.close()
        server.close()
        return received, len(exits)

    received, count = asyncio.run(main())
    assert received == len(payload) and count == 1 and exits == [0]


def test_the_server_exits_without_waiting_when_nothing_is_buffered(monkeypatch):
    exits: list[str] = []
    monkeypatch.setattr(terminate, "_exit", lambda: exits.append("exit"))
    terminate._leave(lambda: exits.append("stopped"), None)  # stdio: written synchronously
    assert exits == ["stopped", "exit"]
