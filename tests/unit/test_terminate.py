"""SIGTERM during a one-shot command: raised as ``Terminated`` in the main thread, but never
while the command writes its answer, which is written whole first."""

from __future__ import annotations

import io
import os
import signal
import sys

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
