"""Execution evidence for Python fixes: a failing test the user names (a pytest node id).

"Fix this function, this test fails: tests/test_calc.py::test_empty". The test runs in a fresh
interpreter (``fixPython``), in the workspace folder, with a hard timeout and sockets disabled,
against the document as the editor holds it (unsaved changes included) with the function
replaced by the candidate: an import hook serves that text whenever the file is imported, so
nothing is ever written to the user's files.

Its failure ("assert total([]) == 0 / assert 1 == 0 / where 1 = total([])") goes into the
prompt, and every candidate is run against the same tests.

Limit: a function defined in the test file itself is imported by pytest's own loader, so the
test sees the file on disk, not the candidate; such a test is refused with that reason.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from lsp_server.engine.base import CancelToken
from lsp_server.fix.evidence import NO_NETWORK, run_user_code

MAX_DETAIL = 400  # characters of failure shown per test
MAX_ERROR_LINES = 3  # pytest's "E" lines kept: the assertion and its first explanations
_ENTRY = re.compile(r"^\S.*:\d+: in \S+")
MAX_TESTS = 50  # a node id that collects more is refused: each candidate runs them all


@dataclass(frozen=True)
class CaseOutcome:
    nodeid: str
    passed: bool
    detail: str  # the failing line and pytest's "E" lines, one line, trimmed

    def describe(self) -> str:
        if self.passed:
            return f"test {self.nodeid} passes"
        return f"test {self.nodeid} fails: {self.detail}"


class CannotRun(Exception):
    """The named tests could not run at all (pytest missing, nothing collected, timeout, ...)."""


_HARNESS = (
    NO_NETWORK.replace("{what}", "the named test").replace("{", "{{").replace("}", "}}")
    + r"""
import importlib.abc, importlib.machinery, importlib.util, json, os, sys

_TARGET = os.path.realpath({target!r})
_SOURCE = json.loads({source!r})
_OUT = {out!r}

class _Loader(importlib.abc.SourceLoader):
    # No path_stats: never a cached .pyc of the file on disk.
    def __init__(self, path):
        self.path = path
    def get_filename(self, fullname):
        return self.path
    def get_data(self, path):
        if os.path.realpath(path) == _TARGET:
            return _SOURCE.encode("utf-8")
        with open(path, "rb") as fh:
            return fh.read()

class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or not spec.origin or os.path.realpath(spec.origin) != _TARGET:
            return None
        return importlib.util.spec_from_file_location(
            name, spec.origin, loader=_Loader(spec.origin),
            submodule_search_locations=spec.submodule_search_locations)

sys.meta_path.insert(0, _Finder())
sys.dont_write_bytecode = True

try:
    import pytest
except ImportError as exc:
    with open(_OUT, "w") as fh:
        json.dump({{"error": "pytest is not installed in " + sys.executable}}, fh)
    raise SystemExit(0)

class _Collect:
    def __init__(self):
        self.rows, self.errors = [], []
    def pytest_collectreport(self, report):
        if report.failed:
            self.errors.append(str(report.longreprtext)[-1500:])
    def pytest_runtest_logreport(self, report):
        if report.when == "call" or (report.failed and report.when == "setup"):
            self.rows.append([report.nodeid, report.passed, str(report.longreprtext)[-4000:]])

_collect = _Collect()
_code = pytest.main(json.loads({args!r}), plugins=[_collect])
with open(_OUT, "w") as fh:
    json.dump({{"rows": _collect.rows, "errors": _collect.errors, "code": int(_code)}}, fh)
"""
)


def summarise(longrepr: str) -> str:
    """The failing source line and the first assertion lines (``E``) of a short traceback, as
    one line: "`assert total([]) == 0` / assert 1 == 0 / +  where 1 = total([])"."""
    lines = longrepr.splitlines()
    source, errors = "", []
    for i, raw in enumerate(lines):
        if _ENTRY.match(raw) and i + 1 < len(lines):  # "tests/t.py:9: in test_x" + its line
            source, errors = lines[i + 1].strip(), []
        elif raw.startswith(">"):  # the long style marks the line instead
            source, errors = raw[1:].strip(), []
        elif raw.startswith("E ") and raw[1:].strip():
            errors.append(raw[1:].strip())
    picked = ([f"`{source}`"] if source else []) + errors[:MAX_ERROR_LINES]
    if not picked:
        picked = [x.strip() for x in lines if x.strip()][-2:]
    summary = " / ".join(picked)
    return summary if len(summary) <= MAX_DETAIL else summary[: MAX_DETAIL - 1] + "…"


PROJECT_MARKERS = ("pyproject.toml", "pytest.ini", "setup.cfg", "tox.ini", "setup.py", ".git")


def project_root(path: str, workspace_roots: list[str]) -> str:
    """Where pytest runs for a fix of ``path``: the nearest folder above it with a project
    marker (pyproject.toml, pytest.ini, ...), not above the workspace folder holding it; else
    that workspace folder; else the file's own folder."""
    here = Path(path).resolve().parent
    holding = [
        Path(r).resolve() for r in workspace_roots if r and here.is_relative_to(Path(r).resolve())
    ]
    stop = max(holding, key=lambda p: len(p.parts)) if holding else None
    for folder in (here, *here.parents):
        if any((folder / marker).exists() for marker in PROJECT_MARKERS):
            return str(folder)
        if folder == stop:
            return str(folder)
    return str(here)


def refuse(node_ids: tuple[str, ...], path: str, root: str) -> str | None:
    """Why these node ids cannot verify a fix of ``path`` (None when they can)."""
    if not node_ids:
        return "no test named"
    for node in node_ids:
        file = node.split("::", 1)[0]
        if node.startswith("-"):
            return f"'{node}' is not a test (expected a pytest node id like tests/test_x.py::name)"
        full = Path(root, file)
        if not full.exists():
            return f"test file '{file}' not found under {root}"
        if path and full.resolve() == Path(path).resolve():
            return (
                f"'{node}' is in the file being fixed; pytest would load that file from disk, "
                "not the candidate (move the test to its own file)"
            )
    return None


def run_tests(
    document: str,
    path: str,
    root: str,
    node_ids: tuple[str, ...],
    python: str,
    timeout_s: float,
    cancel: CancelToken | None = None,
) -> list[CaseOutcome]:
    """The outcome of each test ``node_ids`` collects, with ``path`` serving ``document``.
    Raises CannotRun when they cannot run (with the reason the user needs), ``Cancelled``
    when ``cancel`` fired (the run is killed)."""
    reason = refuse(node_ids, path, root)
    if reason:
        raise CannotRun(reason)
    args = [
        *node_ids,
        "-q",
        "--tb=short",
        "--no-header",
        "-p",
        "no:cacheprovider",
    ]
    with tempfile.TemporaryDirectory(prefix="infill-test-") as scratch:
        out = os.path.join(scratch, "result.json")
        program = _HARNESS.format(
            target=os.path.abspath(path),
            source=json.dumps(document),
            out=out,
            args=json.dumps(args),
        )
        try:
            run_user_code(python, ["-c", program], root, timeout_s, cancel)
        except subprocess.TimeoutExpired as exc:
            raise CannotRun(f"the test run took longer than {timeout_s:g} s") from exc
        except OSError as exc:
            raise CannotRun(f"cannot run {python}: {exc}") from exc
        try:
            with open(out, encoding="utf-8") as fh:
                result = json.load(fh)
        except (OSError, ValueError) as exc:
            raise CannotRun("the test run ended without a result") from exc
    if "error" in result:
        raise CannotRun(result["error"])
    rows = result.get("rows") or []
    if not rows:
        errors = result.get("errors") or []
        why = summarise(errors[0]) if errors else "no test collected"
        raise CannotRun(f"{' '.join(node_ids)}: {why}")
    if len(rows) > MAX_TESTS:
        raise CannotRun(f"{len(rows)} tests collected; name at most {MAX_TESTS}")
    return [CaseOutcome(node, bool(ok), "" if ok else summarise(text)) for node, ok, text in rows]
