"""Leaving on SIGTERM (an editor closing, a supervisor stopping us) at once, in order, and
never half-way through something a user sees.

SIGTERM's default action ends the process where it stands: the log says nothing, the exit
status is the signal's, and a child running the user's test for a fix
(``fix.evidence.run_user_code``) is orphaned and runs on. Instead:

- The server stops between two messages: the signal handler only schedules the stop on the
  event loop, which writes every JSON-RPC message in one piece, so no answer (no fix's edit) is
  cut. The stop cancels the model work (a cancelled fix kills its child), says one log line and
  exits with ``EXIT_TERMINATED`` at once: nothing is left to finish (no file of the user's is
  ever written) and a model decode need not be waited for.
- A one-shot command (``infill-lsp complete``, ``fix``, ``model``) gets ``Terminated`` raised in
  its main thread, which unwinds like Ctrl-C (a child is killed, a half-joined model's temp file
  removed); ``cli.main`` says one line. Its answer (``answer``) is printed whole or not at all:
  a diff cut in the middle could be half-applied by ``patch``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterator

log = logging.getLogger("infill-lsp")

# What a shell reports for a process that SIGTERM ended (128 + 15): the same status, reached
# in order.
EXIT_TERMINATED = 128 + signal.SIGTERM


class Terminated(BaseException):
    """SIGTERM arrived during a one-shot command. A BaseException, like KeyboardInterrupt, so
    that the ``except Exception`` guards of the pipeline do not take it for a failure."""


# Signal handlers are process-wide, and so is this: whether a one-shot command is writing its
# answer (SIGTERM then waits for the end of it), and whether one came meanwhile.
_writing = {"now": False, "pending": False}


@contextlib.contextmanager
def raising_on_sigterm() -> Iterator[None]:
    """For a one-shot command: inside, SIGTERM raises ``Terminated`` in the main thread (the
    handler before is put back after: ``cli.main`` may run inside another program)."""

    def on_sigterm(_signum: int, _frame: object) -> None:
        if _writing["now"]:
            _writing["pending"] = True
            return
        raise Terminated

    before = signal.signal(signal.SIGTERM, on_sigterm)
    _writing["pending"] = False
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


def answer(text: str) -> None:
    """A one-shot command's answer on stdout, whole: a SIGTERM meanwhile waits for its end."""
    _writing["now"] = True
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    finally:
        _writing["now"] = False
    if _writing["pending"]:
        raise Terminated


def stop_on_sigterm(stop: Callable[[], None]) -> None:
    """For the server: on SIGTERM, between two messages, ``stop()`` (cancel the model work,
    close the index), one log line, and exit with ``EXIT_TERMINATED``."""

    def on_sigterm(_signum: int, _frame: object) -> None:
        try:
            loop = asyncio.get_running_loop()  # the handler runs on the loop's thread
        except RuntimeError:  # not serving yet, or any more: nothing is being written
            _leave(stop)
            return
        # threadsafe: it also wakes a loop blocked waiting for input
        loop.call_soon_threadsafe(_leave, stop)

    signal.signal(signal.SIGTERM, on_sigterm)


def _leave(stop: Callable[[], None]) -> None:
    log.warning("SIGTERM: cancelling the model work and exiting with status %d", EXIT_TERMINATED)
    try:
        stop()
    except Exception as exc:  # the exit is what was asked for: a failure here only delays it
        log.warning("SIGTERM: stopping failed (%s: %s); exiting anyway", type(exc).__name__, exc)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(EXIT_TERMINATED)
