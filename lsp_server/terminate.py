"""Leaving on SIGTERM (an editor closing, a supervisor stopping us) at once, in order, and
never half-way through something a user sees.

SIGTERM's default action ends the process where it stands: the log says nothing, the exit
status is the signal's, and a child running the user's test for a fix
(``fix.evidence.run_user_code``) is orphaned and runs on. Instead:

- The server stops between two messages: the signal handler only schedules the stop on the
  event loop, which writes every JSON-RPC message in one piece, so no answer (no fix's edit) is
  cut. The stop only cancels and flags (the model work is cancelled, a cancelled fix kills its
  child; the index's threads are told to stop, none is joined, its store is not closed: SQLite's
  journal keeps it whole through the exit), says one log line and exits with
  ``EXIT_TERMINATED`` at once: nothing is left to finish (no file of the user's is ever
  written) and a model decode need not be waited for. Over TCP the messages already written
  are sent first (``drained``, at most ``FLUSH_S``): the transport buffers what the socket did
  not take, and an exit would cut it (stdio writes are synchronous).
- A one-shot command (``infill-lsp complete``, ``fix``, ``model``) gets ``Terminated`` raised in
  its main thread, which unwinds like Ctrl-C (a child is killed, a half-joined model's temp file
  removed); ``cli.main`` says one line. Its answer (``answer``) is printed whole or not at all:
  a diff cut in the middle could be half-applied by ``patch``. Nor is it raised inside a ctypes
  callback: llama.cpp calls one (llama-cpp-python's log callback) for every line it logs while
  a model loads, so that is where the handler usually runs then, and ctypes prints an exception
  raised there ("Exception ignored on calling ctypes callback function") and swallows it: the
  command would run on to the end. The signal is delivered again ``REDELIVER_S`` later instead,
  until it finds the main flow outside a callback.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import gc
import logging
import os
import signal
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator
from types import CodeType, FrameType

log = logging.getLogger("infill-lsp")

# What a shell reports for a process that SIGTERM ended (128 + 15): the same status, reached
# in order.
EXIT_TERMINATED = 128 + signal.SIGTERM
# A SIGTERM that came during a ctypes callback is delivered again this much later.
REDELIVER_S = 0.05
# The server over TCP: how long the messages already written may take to leave before the exit.
FLUSH_S = 1.0
# Modules whose functions llama.cpp calls back (the log callback of llama-cpp-python): known
# without looking for the callbacks.
_CALLBACK_MODULES = frozenset({"llama_cpp._logger"})


class Terminated(BaseException):
    """SIGTERM arrived during a one-shot command. A BaseException, like KeyboardInterrupt, so
    that the ``except Exception`` guards of the pipeline do not take it for a failure."""


# Signal handlers are process-wide, and so is this: whether a one-shot command is running
# (``active``), writing its answer (SIGTERM then waits for the end of it), whether one came
# meanwhile, and the timer delivering one again (under ``_lock``).
_state: dict[str, object] = {"active": False, "writing": False, "pending": False, "timer": None}
_lock = threading.Lock()
_callback_codes: set[CodeType] = set()  # the Python functions behind ctypes callbacks, found
_flushing: set[asyncio.Task] = set()  # the server's last messages leaving


@contextlib.contextmanager
def raising_on_sigterm() -> Iterator[None]:
    """For a one-shot command: inside, SIGTERM raises ``Terminated`` in the main thread (the
    handler before is put back after: ``cli.main`` may run inside another program)."""

    def on_sigterm(_signum: int, frame: FrameType | None) -> None:
        if _state["writing"]:
            _state["pending"] = True
            return
        if in_callback(frame):  # raised there, it would be printed and swallowed
            _deliver_again()
            return
        raise Terminated

    before = signal.signal(signal.SIGTERM, on_sigterm)
    with _lock:
        _state.update(active=True, pending=False)
    try:
        yield
    finally:
        with _lock:  # no delivery again from now on: the handler is not ours any more
            _state["active"] = False
            timer, _state["timer"] = _state["timer"], None
        if isinstance(timer, threading.Timer):
            timer.cancel()
        signal.signal(signal.SIGTERM, before)


def in_callback(frame: FrameType | None) -> bool:
    """Whether ``frame``, or a frame that called it, is a Python function that C code called
    through ctypes (an exception raised in there never reaches the caller)."""
    frames = []
    while frame is not None:
        if frame.f_globals.get("__name__") in _CALLBACK_MODULES:
            return True
        frames.append(frame)
        frame = frame.f_back
    if any(f.f_code in _callback_codes for f in frames):
        return True
    _callback_codes.update(_find_callback_codes())  # a callback made since the last look?
    return any(f.f_code in _callback_codes for f in frames)


def _find_callback_codes() -> set[CodeType]:
    """The code of every Python function wrapped as a ctypes callback (``CFUNCTYPE(...)(f)``):
    each such callback holds a thunk that holds the function (tens of ms: every object the
    collector tracks is looked at; only when SIGTERM comes)."""
    thunk_type = _thunk_type()
    codes: set[CodeType] = set()
    for thunk in (o for o in gc.get_objects() if type(o) is thunk_type):
        for held in gc.get_referents(thunk):
            code = getattr(getattr(held, "__func__", held), "__code__", None)
            if isinstance(code, CodeType):
                codes.add(code)
    return codes


@functools.cache
def _thunk_type() -> type:
    """The type of ctypes' callback thunks (not public): learnt from a callback made."""
    return type(ctypes.CFUNCTYPE(None)(lambda: None)._objects["0"])  # type: ignore[attr-defined]


def _deliver_again() -> None:
    """SIGTERM once more in ``REDELIVER_S``, while a one-shot command runs (one timer at a
    time). Sent to the main thread, so that a wait it is blocked in (for a child, say) ends
    for the handler, and under ``_lock``: the command's end, which puts the handler before
    back, waits for it, and the main thread takes the signal before it runs on."""

    def deliver() -> None:
        with _lock:
            _state["timer"] = None
            if _state["active"]:
                signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGTERM)

    with _lock:
        if not _state["active"] or _state["timer"] is not None:
            return
        timer = threading.Timer(REDELIVER_S, deliver)
        timer.daemon = True
        _state["timer"] = timer
        timer.start()


def answer(text: str) -> None:
    """A one-shot command's answer on stdout, whole: a SIGTERM meanwhile waits for its end."""
    _state["writing"] = True
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    finally:
        _state["writing"] = False
    if _state["pending"]:
        raise Terminated


def stop_on_sigterm(
    stop: Callable[[], None], flush: Callable[[], Awaitable[None]] | None = None
) -> None:
    """For the server: on SIGTERM, between two messages, ``stop()`` (cancel the model work,
    tell the index to stop: it must not wait for anything), one log line, ``flush()`` (the
    messages written so far leave: at most ``FLUSH_S``) and exit with ``EXIT_TERMINATED``."""
    leaving = threading.Event()

    def on_sigterm(_signum: int, _frame: object) -> None:
        if leaving.is_set():  # asked again while the last messages leave: no more waiting
            _exit()
        leaving.set()
        try:
            loop = asyncio.get_running_loop()  # the handler runs on the loop's thread
        except RuntimeError:  # not serving yet, or any more: nothing is being written
            _leave(stop, None)
            return
        # threadsafe: it also wakes a loop blocked waiting for input
        loop.call_soon_threadsafe(_leave, stop, flush)

    signal.signal(signal.SIGTERM, on_sigterm)


def _leave(stop: Callable[[], None], flush: Callable[[], Awaitable[None]] | None) -> None:
    log.warning("SIGTERM: cancelling the model work and exiting with status %d", EXIT_TERMINATED)
    try:
        stop()
    except Exception as exc:  # the exit is what was asked for: a failure here only delays it
        log.warning("SIGTERM: stopping failed (%s: %s); exiting anyway", type(exc).__name__, exc)
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # no loop running: nothing is buffered in one
        loop = None
    if flush is None or loop is None:
        _exit()
    else:
        _flushing.add(loop.create_task(_flush_then_exit(flush)))  # held: tasks are weak


async def _flush_then_exit(flush: Callable[[], Awaitable[None]]) -> None:
    try:
        await asyncio.wait_for(flush(), FLUSH_S)
    except BaseException as exc:  # the exit comes whatever happened
        log.debug("SIGTERM: the last messages were not all sent (%s)", type(exc).__name__)
    _exit()


def _exit() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(EXIT_TERMINATED)


async def drained(writer: object) -> None:
    """Until what ``writer`` (pygls' writer: an ``asyncio.StreamWriter`` over TCP) has written
    has left its transport's buffer for the socket; at once for a writer with no transport."""
    transport = getattr(writer, "transport", None)
    if not isinstance(transport, asyncio.WriteTransport):
        return
    while transport.get_write_buffer_size() > 0 and not transport.is_closing():
        await asyncio.sleep(0.01)
