"""Execution evidence for Python fixes: run the function's own docstring examples.

A small model does not find a logic bug by reading; shown "called f(3) -> got 4, expected 6" it
often does, and its candidates can be checked against the same examples. Runs only inside the
user-invoked fix action (never on keystrokes), can be switched off (``fixRunExamples``), in a
fresh interpreter with a hard timeout, in a scratch directory, with sockets disabled.

What runs: the module's imports, classes, functions and top-level assignments (not its other
statements, e.g. a ``__main__`` block), with the function under test replaced by the candidate,
then each example in turn.
"""

from __future__ import annotations

import ast
import doctest
import json
import os
import re
import subprocess
import tempfile
import textwrap
from dataclasses import dataclass

from lsp_server.engine.base import CancelToken

MAX_EXAMPLES = 12
EXAMPLE_TIMEOUT_S = 2
# `f(1, 2) == 3`, `f(1) ➞ 2`, `f(1) => 2`, `f(1) -> 2`, `f(1) ==> 2`, `f(1) should return 2`
_INLINE = (
    r"^\s*(?:>>>\s*)?({name}\(.*\))\s*(?:==>|==|➞|=>|->|should return|returns?)\s*(.+?)\.?\s*$"
)


@dataclass(frozen=True)
class Example:
    call: str  # an expression calling the function: "f(1, 2)"
    expected: str  # the expected value's source (or printed repr): "3"


@dataclass(frozen=True)
class Outcome:
    example: Example
    passed: bool
    got: str  # repr of the result, or "raised TypeError: ..."

    def describe(self) -> str:
        return f"called {self.example.call} -> got {self.got}, expected {self.example.expected}"


def docstring_examples(function_text: str, name: str) -> list[Example]:
    """Doctest examples (``>>> f(x)`` + expected output) and inline ``f(x) == y`` lines from
    the function's docstring, calls of the function itself only."""
    try:
        tree = ast.parse(textwrap.dedent(function_text))
    except SyntaxError:
        return []
    node = next(
        (n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)), None
    )
    doc = ast.get_docstring(node, clean=True) if node is not None else None
    if not doc:
        return []
    found: list[Example] = []
    try:
        doctests = doctest.DocTestParser().get_examples(doc)
    except ValueError:  # malformed doctest (e.g. inconsistent indentation): no doctests
        doctests = []
    for ex in doctests:
        source, want = ex.source.strip(), ex.want.strip()
        if want and source.startswith(f"{name}(") and "\n" not in source:
            found.append(Example(source, want))
    inline = re.compile(_INLINE.format(name=re.escape(name)))
    for line in doc.splitlines():
        match = inline.match(line)
        if match and not line.lstrip().startswith(">>>"):
            found.append(Example(match.group(1).strip(), match.group(2).strip()))
    unique = list(dict.fromkeys(found))
    return unique[:MAX_EXAMPLES]


def module_for(document: str, function_start: int, function_end: int, candidate: str) -> str | None:
    """The document reduced to definitions, with lines [start, end) replaced by ``candidate``;
    None when it does not parse."""
    lines = document.split("\n")
    replaced = "\n".join(lines[:function_start]) + "\n" + candidate
    replaced += "\n" + "\n".join(lines[function_end:])
    try:
        tree = ast.parse(replaced)
    except SyntaxError:
        return None
    kept = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    tree.body = [n for n in tree.body if isinstance(n, (*kept, ast.Assign, ast.AnnAssign))]
    return ast.unparse(tree)


# Prepended to every program that runs user code: no connection, no name lookup. A subclass,
# not a function, stands in for socket.socket so that modules subclassing it (ssl, asyncio)
# still import.
NO_NETWORK = """
import socket as _socket
def _no_network(*_a, **_k):
    raise OSError("network disabled while running {what}")
class _NoNetworkSocket(_socket.socket):
    connect = connect_ex = sendto = sendmsg = _no_network
_socket.socket = _NoNetworkSocket
_socket.create_connection = _socket.getaddrinfo = _socket.gethostbyname = _no_network
"""

_HARNESS = (
    NO_NETWORK.replace("{what}", "examples")
    + """
import json as _json, math as _math, signal as _signal
def _alarm(*_a):
    raise TimeoutError("example took too long")
_signal.signal(_signal.SIGALRM, _alarm)
_source = _json.loads({module!r})
exec(compile(_source, "<fix-candidate>", "exec"))
def _same(got, want):
    if isinstance(got, float) or isinstance(want, float):
        try:
            return _math.isclose(got, want, rel_tol=1e-6, abs_tol=1e-9)
        except TypeError:
            return False
    return got == want
for _call, _want in _json.loads({examples!r}):
    _signal.alarm({timeout})
    try:
        _got = eval(_call)
        try:
            _ok = _same(_got, eval(_want))
        except Exception:
            _ok = repr(_got) == _want
        _shown = repr(_got)
    except BaseException as _exc:
        _ok, _shown = False, "raised " + type(_exc).__name__ + ": " + str(_exc)[:120]
    _signal.alarm(0)
    print(_json.dumps([_ok, _shown[:200]]), flush=True)
"""
)


def run_user_code(
    python: str, args: list[str], cwd: str, timeout_s: float, cancel: CancelToken | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python args`` for the fix action's evidence: a minimal environment (no secrets of
    the server's environment), output captured, a hard timeout. Raises OSError (interpreter
    missing) and subprocess.TimeoutExpired.

    ``cancel`` kills the child at once (then ``Cancelled`` is raised): a fix cancelled by the
    user, or by the server leaving on SIGTERM, must not wait for (or orphan) a test that may
    run for ``fixTestTimeoutMs``. Any exception here kills it too, as ``subprocess.run`` does.
    """
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", ""),
        "PYTHONHASHSEED": "0",
        "PYTHONIOENCODING": "utf-8",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    with subprocess.Popen(
        [python, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env=env,
    ) as child:
        stop = cancel.on_cancel(child.kill) if cancel is not None else lambda: None
        try:
            stdout, stderr = child.communicate(timeout=timeout_s)
        except BaseException:  # the timeout, a cancel's broken pipe, SIGTERM in the CLI
            child.kill()
            raise
        finally:
            stop()
    if cancel is not None:
        cancel.check()
    return subprocess.CompletedProcess(child.args, child.returncode, stdout, stderr)


def run_examples(
    module: str,
    examples: list[Example],
    python: str,
    timeout_s: float = 10.0,
    cancel: CancelToken | None = None,
) -> list[Outcome] | None:
    """Each example's outcome against ``module``; None when the run itself failed (timeout,
    import error, interpreter missing); ``Cancelled`` when ``cancel`` fired."""
    program = _HARNESS.format(
        module=json.dumps(module),
        examples=json.dumps([[e.call, e.expected] for e in examples]),
        timeout=EXAMPLE_TIMEOUT_S,
    )
    with tempfile.TemporaryDirectory(prefix="infill-fix-") as scratch:
        try:
            proc = run_user_code(python, ["-I", "-c", program], scratch, timeout_s, cancel)
        except (OSError, subprocess.TimeoutExpired):
            return None
    rows = [line for line in proc.stdout.splitlines() if line.startswith("[")]
    if len(rows) != len(examples):
        return None
    outcomes = []
    for example, row in zip(examples, rows, strict=False):
        ok, shown = json.loads(row)
        outcomes.append(Outcome(example, bool(ok), shown))
    return outcomes
