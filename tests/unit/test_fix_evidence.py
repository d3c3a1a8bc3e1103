"""Docstring examples as execution evidence: what is found, how it runs, what it reports."""

from __future__ import annotations

import sys
import threading
import time

import pytest

from lsp_server.engine.base import Cancelled, CancelToken
from lsp_server.fix.evidence import (
    Example,
    docstring_examples,
    module_for,
    run_examples,
    run_user_code,
)

FUNC = '''def add(a, b):
    """Add two numbers.

    >>> add(2, 3)
    5
    >>> print("not a call of add")
    not a call of add
    add(1, 1) == 2
    add(0, 5) ➞ 5
    """
    return a - b
'''


def test_doctests_and_inline_examples_of_the_function_itself():
    assert docstring_examples(FUNC, "add") == [
        Example("add(2, 3)", "5"),
        Example("add(1, 1)", "2"),
        Example("add(0, 5)", "5"),
    ]
    assert docstring_examples("def f():\n    return 1\n", "f") == []
    assert docstring_examples("def f(:\n", "f") == []


def test_module_keeps_definitions_only_and_swaps_the_candidate():
    doc = "import math\nX = 2\n" + FUNC + "\nprint('side effect')\nadd(1, 2)\n"
    start = 2
    end = start + FUNC.count("\n")
    module = module_for(doc, start, end, "def add(a, b):\n    return a + b\n")
    assert module is not None
    assert "import math" in module and "X = 2" in module and "a + b" in module
    assert "side effect" not in module and "a - b" not in module


def test_run_reports_got_and_expected_and_survives_errors_and_loops():
    module = (
        "def add(a, b):\n    return a - b\n"
        "def boom():\n    raise ValueError('bad input')\n"
        "def spin():\n    while True: pass\n"
    )
    examples = [
        Example("add(2, 3)", "5"),
        Example("add(3, 0)", "3"),
        Example("boom()", "1"),
        Example("spin()", "1"),
        Example("add(0.1, -0.2)", "0.3"),
    ]
    outcomes = run_examples(module, examples, sys.executable, timeout_s=20)
    assert outcomes is not None
    assert [o.passed for o in outcomes] == [False, True, False, False, True]
    assert outcomes[0].describe() == "called add(2, 3) -> got -1, expected 5"
    assert outcomes[2].got == "raised ValueError: bad input"
    assert outcomes[3].got.startswith("raised TimeoutError")


def test_network_is_disabled_while_examples_run():
    module = "import socket\ndef f():\n    socket.create_connection(('127.0.0.1', 9))\n"
    (outcome,) = run_examples(module, [Example("f()", "None")], sys.executable)
    assert outcome.got == "raised OSError: network disabled while running examples"


def test_a_missing_interpreter_gives_no_evidence():
    assert run_examples("x = 1", [Example("x", "1")], "/nonexistent/python") is None


def test_malformed_doctest_gives_the_inline_examples_only():
    # HumanEval/51's docstring: a doctest line continued with less indentation.
    func = '''def f(s):
    """Strip vowels.
    >>> f("abcdef\\nghijklm")
    'bcdf\\nghjklm'
    f("aaBAA") == "B"
    """
    return s
'''
    assert docstring_examples(func, "f") == [Example('f("aaBAA")', '"B"')]


def test_a_cancel_kills_the_run_at_once(tmp_path):
    token = CancelToken()
    threading.Timer(0.3, token.cancel, args=("the server is leaving",)).start()
    started = time.monotonic()
    with pytest.raises(Cancelled, match="the server is leaving"):
        run_user_code(
            sys.executable, ["-c", "import time; time.sleep(60)"], str(tmp_path), 60, token
        )
    assert time.monotonic() - started < 5
