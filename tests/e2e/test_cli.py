"""The newcomer's first taste: `infill-lsp complete` and `infill-lsp model`, as subprocesses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lsp_server.syntax.tree import syntax_errors
from tests.helpers.fix_cases import TOTAL

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "fibonacci.py"


def cli(*args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lsp_server", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


@pytest.mark.model
def test_model_command_describes_the_verified_default():
    out = cli("model", "--json")
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert Path(info["path"]).is_absolute() and info["path"].endswith(".gguf")
    assert info["verified"] is True and info["dialect"] == "qwen"
    assert info["size"] == 491_400_064


@pytest.mark.model
def test_complete_the_readme_example():
    before = EXAMPLE.read_bytes()
    out = cli("complete", "examples/fibonacci.py:15:5")
    assert out.returncode == 0, out.stderr
    answer = out.stdout[:-1]  # print() adds one newline
    assert "return" in answer
    text = before.decode()
    lines = text.split("\n")
    offset = sum(len(line) + 1 for line in lines[:14]) + 4
    assert syntax_errors("python", text[:offset] + answer + text[offset:]) == 0
    assert EXAMPLE.read_bytes() == before  # nothing is written to user files


def test_complete_rejects_bad_locations_and_files(tmp_path):
    assert "FILE:LINE:COL" in cli("complete", "examples/fibonacci.py").stderr
    assert "1-based" in cli("complete", "examples/fibonacci.py:0:1").stderr
    outside = cli("complete", "examples/fibonacci.py:999:1")
    assert outside.returncode == 1 and "outside" in outside.stderr
    missing = cli("complete", str(tmp_path / "missing.py") + ":1:1")
    assert missing.returncode == 1 and "cannot read" in missing.stderr
    latin1 = tmp_path / "latin1.py"
    latin1.write_bytes(b"name = 'caf\xe9'\n")
    bad = cli("complete", f"{latin1}:1:1")
    assert bad.returncode == 1 and "not UTF-8" in bad.stderr
    assert latin1.read_bytes() == b"name = 'caf\xe9'\n"
    bad_setting = cli("complete", "examples/fibonacci.py:15:5", "--set", "maxTokens=many")
    assert bad_setting.returncode != 0 and "maxTokens" in bad_setting.stderr
    assert "KEY=VALUE" in cli("complete", "examples/fibonacci.py:15:5", "--set", "x").stderr


def test_model_command_with_missing_path_explains(tmp_path):
    out = cli("model", "--model", str(tmp_path / "none.gguf"))
    assert out.returncode == 1 and "none.gguf" in out.stderr


def test_stdio_flag_is_accepted():
    assert "usage" in cli("--stdio", "--help").stdout


@pytest.mark.model
def test_fix_prints_a_unified_diff_and_leaves_the_file_alone(tmp_path):
    source = tmp_path / "total.py"
    source.write_text(TOTAL)
    out = cli("fix", f"{source}:9")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"--- {source}\n+++ {source}\n@@ ")
    assert "-    result = 1\n" in out.stdout and "passes 2/2 docstring examples" in out.stderr
    assert source.read_text() == TOTAL


def test_fix_rejects_lines_outside_functions(tmp_path):
    source = tmp_path / "flat.py"
    source.write_text("x = 1\n")
    out = cli("fix", f"{source}:1")
    assert out.returncode == 1 and "not inside a function" in out.stderr
    assert "FILE:LINE" in cli("fix", "flat.py").stderr


@pytest.mark.model
def test_fix_with_a_named_failing_test(tmp_path):
    from tests.unit.test_fix_named_test import OPS, TESTS

    (tmp_path / "shop").mkdir()
    (tmp_path / "shop" / "__init__.py").write_text("")
    (tmp_path / "shop" / "cart.py").write_text(OPS)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_cart.py").write_text(TESTS)
    (tmp_path / "pyproject.toml").write_text('[tool.pytest.ini_options]\npythonpath = ["."]\n')
    node = f"{tmp_path}/tests/test_cart.py::test_total"
    out = cli("fix", f"{tmp_path}/shop/cart.py:6", "--test", node)
    assert out.returncode == 0, out.stderr
    assert "-        result = 1\n+        result = 0\n" in out.stdout
    assert "passes 1/1 named test" in out.stderr
