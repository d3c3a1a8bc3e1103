"""A failing test the user names, as evidence and as the check of each candidate: it runs against
the editor's text (never the file on disk), reports the failing line and pytest's assertion
details, and refuses what it cannot do with a reason."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lsp_server.engine.base import CancelToken
from lsp_server.fix.fixer import Fixer
from lsp_server.fix.function import find_function
from lsp_server.fix.named_test import CannotRun, project_root, run_tests, summarise
from lsp_server.fix.verify import NamedTests, Verifier
from lsp_server.prompt.chat import FixRequest
from lsp_server.settings import Settings
from tests.helpers.fix_cases import TOTAL
from tests.unit.test_fixer import GOOD, ScriptedEngine

# A method (docstring examples cannot build its instance; a test can).
OPS = """class Cart:
    def __init__(self, prices):
        self.prices = prices

    def total(self):
        result = 1
        for p in self.prices:
            result += p
        return result
"""
TESTS = """from shop.cart import Cart


def test_total():
    assert Cart([1, 2, 3]).total() == 6


def test_empty():
    assert Cart([]).total() == 0


def test_unrelated():
    assert Cart([5]).prices == [5]
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "shop").mkdir()
    (tmp_path / "shop" / "__init__.py").write_text("")
    (tmp_path / "shop" / "cart.py").write_text(OPS)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_cart.py").write_text(TESTS)
    (tmp_path / "pyproject.toml").write_text('[tool.pytest.ini_options]\npythonpath = ["."]\n')
    return tmp_path


def run(project: Path, document: str, *node_ids: str, timeout_s: float = 60):
    path = str(project / "shop" / "cart.py")
    return run_tests(document, path, str(project), node_ids, sys.executable, timeout_s)


def test_the_failing_line_and_pytests_explanation_are_reported(project: Path):
    outcomes = run(project, OPS, "tests/test_cart.py")
    assert [(o.nodeid.split("::")[1], o.passed) for o in outcomes] == [
        ("test_total", False),
        ("test_empty", False),
        ("test_unrelated", True),
    ]
    empty = outcomes[1]
    assert empty.describe().startswith(
        "test tests/test_cart.py::test_empty fails: `assert Cart([]).total() == 0`"
    )
    assert "assert 1 == 0" in empty.detail


def test_the_candidate_is_served_from_memory_and_the_file_on_disk_is_untouched(project: Path):
    run(project, OPS, "tests/test_cart.py::test_empty")  # a first import, as a .pyc would cache
    fixed = OPS.replace("result = 1", "result = 0")
    outcomes = run(project, fixed, "tests/test_cart.py::test_empty", "tests/test_cart.py")
    assert all(o.passed for o in outcomes)
    assert (project / "shop" / "cart.py").read_text() == OPS
    assert not list(project.rglob("__pycache__/cart*.pyc"))


def test_what_cannot_run_is_refused_with_a_reason(project: Path):
    with pytest.raises(CannotRun, match="not found"):
        run(project, OPS, "tests/test_missing.py::test_x")
    with pytest.raises(CannotRun, match="is not a test"):
        run(project, OPS, "--collect-only")
    with pytest.raises(CannotRun, match=r"no test collected|not found"):
        run(project, OPS, "tests/test_cart.py::test_nope")
    with pytest.raises(CannotRun, match="in the file being fixed"):
        run_tests(
            OPS,
            str(project / "tests" / "test_cart.py"),
            str(project),
            ("tests/test_cart.py::test_total",),
            sys.executable,
            60,
        )


def test_an_import_error_of_the_candidate_is_a_run_error_not_a_crash(project: Path):
    with pytest.raises(CannotRun):
        run(project, "import no_such_module_anywhere\n" + OPS, "tests/test_cart.py")


def test_a_hanging_test_hits_the_timeout(project: Path):
    hanging = OPS.replace("result = 1", "while True:\n            pass")
    with pytest.raises(CannotRun, match="longer than 3 s"):
        run(project, hanging, "tests/test_cart.py::test_empty", timeout_s=3)


def test_network_is_disabled_in_the_test_run(project: Path):
    (project / "tests" / "test_net.py").write_text(
        "import socket\n\ndef test_net():\n    socket.create_connection(('127.0.0.1', 9))\n"
    )
    (outcome,) = run(project, OPS, "tests/test_net.py::test_net")
    assert not outcome.passed and "network disabled" in outcome.detail


def test_an_interpreter_without_pytest_says_so(project: Path):
    python = "/usr/bin/python3"  # the system interpreter: no pytest there, unlike our venv
    if not Path(python).exists() or subprocess.run([python, "-c", "import pytest"]).returncode == 0:
        pytest.skip("needs an interpreter without pytest at /usr/bin/python3")
    path = str(project / "shop" / "cart.py")
    with pytest.raises(CannotRun, match="pytest is not installed"):
        run_tests(OPS, path, str(project), ("tests/test_cart.py",), python, 60)


def test_summary_keeps_the_innermost_line_and_the_assertion_details():
    longrepr = (
        "tests/test_cart.py:9: in test_empty\n"
        "    assert Cart([]).total() == 0\n"
        ">   assert Cart([]).total() == 0\n"
        "E   assert 1 == 0\n"
        "E    +  where 1 = total()\n"
    )
    assert summarise(longrepr) == (
        "`assert Cart([]).total() == 0` / assert 1 == 0 / +  where 1 = total()"
    )


def test_a_method_gets_evidence_from_the_named_test_and_its_fix_is_verified(project: Path):
    good = (
        "    def total(self):\n        result = 0\n        for p in self.prices:\n"
        "            result += p\n        return result\n```"
    )
    engine = ScriptedEngine([good])
    fixer = Fixer(engine, Settings(fix_python=sys.executable))
    function = find_function(OPS, "python", OPS.index("result = 1"))
    assert function is not None and function.indent  # a method: no docstring examples
    request = FixRequest("python", function.text, function.name)
    tests = NamedTests(
        ("tests/test_cart.py::test_empty",), str(project / "shop" / "cart.py"), str(project), 60
    )
    outcome = fixer.fix(OPS, function, request, CancelToken(), tests=tests)
    assert (
        "test tests/test_cart.py::test_empty fails: `assert Cart([]).total() == 0`"
        in (engine.prompts[0])
    )
    assert outcome.verified and outcome.message.endswith("passes 1/1 named test")


def test_named_test_and_docstring_examples_count_together(project: Path):
    cart = project / "shop" / "cart.py"
    cart.write_text(TOTAL)
    (project / "tests" / "test_total.py").write_text(
        "from shop.cart import total\n\ndef test_one():\n    assert total([4]) == 4\n"
    )
    tests = NamedTests(("tests/test_total.py::test_one",), str(cart), str(project), 60)
    function = find_function(TOTAL, "python", TOTAL.index("result = 1"))
    verifier = Verifier.for_function(TOTAL, function, "python", sys.executable, tests)
    baseline = verifier.baseline(function.text)
    assert [c.passed for c in baseline] == [False, False, False] and verifier.total == 3
    assert verifier.noun() == "checks (1 named test, 2 docstring examples)"
    assert verifier.score(GOOD.removesuffix("```")) == 3


def test_a_named_test_that_cannot_run_is_reported_and_the_examples_still_verify(project: Path):
    cart = project / "shop" / "cart.py"
    cart.write_text(TOTAL)
    engine = ScriptedEngine([GOOD])
    fixer = Fixer(engine, Settings(fix_python=sys.executable))
    function = find_function(TOTAL, "python", TOTAL.index("result = 1"))
    request = FixRequest("python", function.text, function.name)
    tests = NamedTests(("tests/test_gone.py::test_x",), str(cart), str(project), 60)
    outcome = fixer.fix(TOTAL, function, request, CancelToken(), tests=tests)
    assert outcome.verified and outcome.checks == 2
    assert "passes 2/2 docstring examples; named tests not run: test file" in outcome.message


def test_with_code_execution_off_the_named_test_is_not_run_and_it_says_so(project: Path):
    engine = ScriptedEngine([GOOD])
    fixer = Fixer(engine, Settings(fix_python=sys.executable, fix_run_examples=False))
    function = find_function(TOTAL, "python", TOTAL.index("result = 1"))
    request = FixRequest("python", function.text, function.name)
    tests = NamedTests(("tests/test_cart.py",), str(project / "shop" / "cart.py"), str(project), 60)
    outcome = fixer.fix(TOTAL, function, request, CancelToken(), tests=tests)
    assert outcome.checks == 0
    assert outcome.message.endswith("the named test was not run (fixRunExamples is off)")


def test_tests_run_from_the_nearest_project_folder_inside_the_workspace(tmp_path: Path):
    repo = tmp_path / "repo"
    (repo / "pkg" / "src" / "lib").mkdir(parents=True)
    (repo / ".git").mkdir()
    (repo / "pkg" / "pyproject.toml").write_text("")
    file = str(repo / "pkg" / "src" / "lib" / "m.py")
    assert project_root(file, [str(repo)]) == str(repo / "pkg")
    (repo / "pkg" / "pyproject.toml").unlink()
    assert project_root(file, [str(repo)]) == str(repo)
    assert project_root(file, [str(repo / "pkg")]) == str(repo / "pkg")  # not above the folder
    assert project_root(file, []) == str(repo)
