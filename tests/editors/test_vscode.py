"""The VS Code extension (editor-extension/vscode).

- ``test_settings_match_the_server``: package.json's ``infill.*`` settings are exactly the
  server's settings model (keys, defaults, types, bounds, choices); quick, no Node needed.
- ``test_extension_lint_and_unit_tests``: ``npm run lint`` and ``npm test`` (the extension's own
  logic in plain Node: interpreter choice, settings mapping, status texts...).
- ``test_vscode_end_to_end``: the packaged .vsix in a real VS Code (code-server in headless
  Chromium, driven by Playwright) starts the REAL server with the REAL default model: ghost
  text appears while typing, Ctrl+Right accepts a word of it and Tab the rest, and the server
  counts the accept (``infill/status`` acceptance totals 0 -> 1, the characters of the word and
  the rest, the status bar tooltip, the stats file); "Delete Acceptance Statistics" asks
  first; a cursor that rests sends ``infill/cursor`` and the server warms up there (its
  totals, read with "Show Server Status"); the status bar item says ready and toggles
  completions; "Fix this function" from the command palette and from the code action menu
  fixes ``total``. Screenshots in test-artifacts/vscode/.

``editor-extension/vscode/e2e/provision.sh`` installs what the end-to-end test needs (Node 24,
code-server, Chromium, the built .vsix; minutes once, seconds after). When it cannot, the test
skips with the reason, or fails when INFILL_REQUIRE_EDITORS=1 (CI).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import fields
from pathlib import Path
from typing import get_type_hints

import pytest

from lsp_server import settings as server_settings
from tests.editors.acceptance_stats import stored_acceptance
from tests.helpers.fix_cases import TOTAL

ROOT = Path(__file__).resolve().parents[2]
EXTENSION = ROOT / "editor-extension" / "vscode"
E2E = EXTENSION / "e2e"
ARTIFACTS = ROOT / "test-artifacts" / "vscode"
MISSING_ARTIFACTS = ROOT / "test-artifacts" / "vscode-missing-server"
REQUIRED = os.environ.get("INFILL_REQUIRE_EDITORS") == "1"
CLIENT_ONLY = {"pythonPath", "trace.server"}  # the extension's own settings, never sent

PROVISION_TIMEOUT_S = 1800  # fresh: npm + apt downloads (~1.5 min here)
DRIVER_TIMEOUT_S = 560  # typically ~45 s; two fixes under heavy load take minutes
START_TIMEOUT_S = 60

# VS Code without the distractions of a first start, and nothing that competes with the ghost
# text for the Tab key (no suggest widget).
USER_SETTINGS = {
    "workbench.startupEditor": "none",
    "workbench.tips.enabled": False,
    "workbench.enableExperiments": False,
    "workbench.secondarySideBar.defaultVisibility": "hidden",
    "telemetry.telemetryLevel": "off",
    "update.mode": "none",
    "extensions.autoUpdate": False,
    "extensions.autoCheckUpdates": False,
    "extensions.ignoreRecommendations": True,
    "security.workspace.trust.enabled": False,
    "chat.disableAIFeatures": True,
    "files.hotExit": "off",
    # the test saves; VS Code's own save after a refactoring (the fix) raced with it
    "files.refactoring.autoSave": False,
    "editor.inlineSuggest.enabled": True,
    "editor.quickSuggestions": {"other": "off", "comments": "off", "strings": "off"},
    "editor.suggestOnTriggerCharacters": False,
    "editor.wordBasedSuggestions": "off",
    "editor.acceptSuggestionOnEnter": "off",
    "editor.minimap.enabled": False,
}


def test_settings_match_the_server():
    """package.json's configuration maps 1:1 to lsp_server.settings (so they cannot drift)."""
    package = json.loads((EXTENSION / "package.json").read_text(encoding="utf-8"))
    properties = package["contributes"]["configuration"]["properties"]
    ours = {name.removeprefix("infill."): schema for name, schema in properties.items()}
    wire = server_settings.to_wire(server_settings.Settings())
    assert set(ours) - CLIENT_ONLY == set(wire), "package.json vs lsp_server/settings.py keys"
    hints = get_type_hints(server_settings.Settings)
    kinds = {bool: "boolean", int: "integer", float: "number", str: "string"}
    for f in fields(server_settings.Settings):
        key = server_settings.camel(f.name)
        schema = ours[key]
        assert schema["default"] == wire[key], f"default of infill.{key}"
        assert schema["type"] == kinds.get(hints[f.name], "array"), f"type of infill.{key}"
        lo, hi = server_settings.BOUNDS.get(f.name, (None, None))
        assert (schema.get("minimum"), schema.get("maximum")) == (lo, hi), f"infill.{key} bounds"
        choices = server_settings.CHOICES.get(f.name)
        assert schema.get("enum") == (list(choices) if choices else None), (
            f"choices of infill.{key}"
        )
        assert schema.get("description") or schema.get("markdownDescription"), key


def _unavailable(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"{reason} [INFILL_REQUIRE_EDITORS=1]")
    pytest.skip(reason)


def _provision() -> dict[str, str]:
    """Run provision.sh; its last lines are INFILL_E2E_<NAME>=<value>."""
    if shutil.which("npm") is None or shutil.which("bash") is None:
        _unavailable("the VS Code end-to-end test needs npm (Node 20+) and bash to provision")
    started = time.monotonic()
    try:
        proc = subprocess.run(
            ["bash", str(E2E / "provision.sh")],
            capture_output=True,
            text=True,
            timeout=PROVISION_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        _unavailable(f"provisioning the VS Code end-to-end test failed: {exc}")
    if proc.returncode != 0:
        failed = [line for line in proc.stderr.splitlines() if "FAILED" in line]
        tail = "\n".join(proc.stderr.splitlines()[-15:])
        _unavailable(
            "provisioning the VS Code end-to-end test failed: "
            + (failed[-1] if failed else f"exit status {proc.returncode}")
            + f"\n{tail}"
        )
    print(f"provisioned in {time.monotonic() - started:.1f} s")
    found = dict(
        line.split("=", 1) for line in proc.stdout.splitlines() if line.startswith("INFILL_E2E_")
    )
    missing = {"INFILL_E2E_NODE", "INFILL_E2E_CODE_SERVER", "INFILL_E2E_CHROMIUM"} - set(found)
    if missing or not Path(found.get("INFILL_E2E_VSIX", "")).is_file():
        _unavailable(f"provision.sh did not report {sorted(missing) or 'the .vsix'}")
    return found


def _workspace(root: Path, python: str) -> Path:
    """The fixture workspace, with the server's interpreter set to ``python``."""
    fixture = E2E / "fixture"
    assert (fixture / "buggy.py").read_text(encoding="utf-8") == TOTAL, "fixture drifted"
    workspace = root / "workspace"
    shutil.copytree(fixture, workspace)
    (workspace / ".vscode").mkdir()
    settings = {
        "infill.pythonPath": python,
        # A busy 2-core box needs more than the defaults (1.5 s per suggestion, 30 s per fix):
        # under a load average of 7 here, a 4-token answer took 1.3 s to generate and a fix
        # 128 s, after which the server applies its best partial candidate (1/2 examples).
        "infill.maxTimeMs": 10_000,
        "infill.fixBudgetMs": 240_000,
    }
    (workspace / ".vscode" / "settings.json").write_text(json.dumps(settings, indent=2))
    return workspace


def _start_code_server(
    code_server: str, env: dict[str, str], args: list[str], log: Path
) -> tuple[subprocess.Popen, str]:
    """code-server on a free port (it picks one: --bind-addr 127.0.0.1:0); returns it and
    its address once it answers /healthz."""
    out = log.open("w", encoding="utf-8")
    proc = subprocess.Popen(
        [code_server, *args, "--bind-addr", "127.0.0.1:0"],
        stdout=out,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,  # its own process group: the extension host and the server too
    )
    deadline = time.monotonic() + START_TIMEOUT_S
    address = None
    while time.monotonic() < deadline and proc.poll() is None:
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            if "HTTP server listening on" in line:
                address = line.split("HTTP server listening on", 1)[1].strip().rstrip("/")
        if address:
            try:
                with urllib.request.urlopen(address + "/healthz", timeout=5) as response:
                    if response.status == 200:
                        return proc, address
            except OSError:
                pass
        time.sleep(0.25)
    tail = log.read_text(encoding="utf-8", errors="replace")[-3000:]
    _stop(proc)
    pytest.fail(f"code-server did not start within {START_TIMEOUT_S} s:\n{tail}")


def _stop(proc: subprocess.Popen) -> None:
    """Stop code-server by its pid (its process group: extension host, language server)."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # children that outlived their parent (same group)


def _changed(text: str) -> list[str]:
    """The lines of ``text`` that differ from the buggy original."""
    before = TOTAL.rstrip("\n").split("\n")
    return [line.strip() for line in text.rstrip("\n").split("\n") if line not in before]


def _assert_fixed(text: str, path: Path, how: str) -> None:
    """``text`` (the editor's buffer after a fix) is total() fixed: it parses, its docstring
    examples pass, and only the body changed."""
    assert text and text != TOTAL.rstrip("\n"), f"{how}: no change"
    compile(text, path.name, "exec")
    assert text.startswith(TOTAL[: TOTAL.index("    result = 1")]), f"{how}: docstring changed"
    path.write_text(text + "\n", encoding="utf-8")
    doctest = subprocess.run(
        [sys.executable, "-m", "doctest", "-v", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert doctest.returncode == 0 and "2 passed and 0 failed" in doctest.stdout, (
        f"{how}: the fixed total() fails its examples:\n{text}\n{doctest.stdout[-1500:]}"
    )


def _keep_logs(data: Path, code_server_log: Path, artifacts: Path, failed: bool) -> None:
    """The infill-lsp output channel's log; on failure also VS Code's and code-server's."""
    target = artifacts / "logs"
    target.mkdir(parents=True, exist_ok=True)
    for path in (data / "logs").rglob("*.log"):
        wanted = path.name == "infill-lsp.log" or (
            failed and (path.name == "remoteagent.log" or path.parent.name.startswith("exthost"))
        )
        if wanted and path.stat().st_size:
            shutil.copy(path, target / path.name)
    if failed:
        shutil.copy(code_server_log, target / code_server_log.name)


@pytest.fixture(scope="module")
def provisioned() -> dict[str, str]:
    return _provision()


def run_vscode(
    provisioned: dict[str, str],
    tmp_path: Path,
    artifacts: Path,
    python: str,
    scenario: str = "main",
) -> tuple[dict, Path]:
    """Install the .vsix into a fresh code-server, open the fixture workspace (its
    infill.pythonPath set to ``python``), run the driver's ``scenario``; return the driver's
    result and the workspace. code-server is stopped by its pid whatever happens."""
    node = provisioned["INFILL_E2E_NODE"]
    code_server = provisioned["INFILL_E2E_CODE_SERVER"]
    workspace = _workspace(tmp_path, python)
    data, extensions = tmp_path / "data", tmp_path / "extensions"
    (data / "User").mkdir(parents=True)
    (data / "User" / "settings.json").write_text(json.dumps(USER_SETTINGS, indent=2))
    config = tmp_path / "code-server.yaml"
    config.write_text("auth: none\ncert: false\n")
    env = {
        **os.environ,
        "PATH": os.pathsep.join([str(Path(node).parent), os.environ.get("PATH", "")]),
        # The server from this checkout, whatever is installed.
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        # This run's acceptance statistics, read after it (``stored_acceptance``).
        "INFILL_LSP_STATS": str(tmp_path / "stats.sqlite3"),
    }
    common = ["--config", str(config), "--user-data-dir", str(data)]
    common += ["--extensions-dir", str(extensions)]
    install = subprocess.run(
        [code_server, *common, "--install-extension", provisioned["INFILL_E2E_VSIX"]],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert "successfully installed" in install.stdout, install.stdout + install.stderr

    shutil.rmtree(artifacts, ignore_errors=True)
    artifacts.mkdir(parents=True)
    log = tmp_path / "code-server.log"
    args = [*common, "--auth", "none", "--disable-telemetry", "--disable-update-check"]
    args += ["--disable-workspace-trust", "--disable-getting-started-override"]
    proc, address = _start_code_server(code_server, env, [*args, str(workspace)], log)
    passed = False
    try:
        command = [node, str(E2E / "driver.mjs"), "--scenario", scenario]
        command += ["--url", f"{address}/?folder={workspace}", "--workspace", str(workspace)]
        command += ["--chromium", provisioned["INFILL_E2E_CHROMIUM"]]
        command += ["--artifacts", str(artifacts)]
        try:
            driver = subprocess.run(
                command,
                capture_output=True,
                text=True,
                env=env,
                timeout=DRIVER_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            pytest.fail(f"the VS Code driver ran past {DRIVER_TIMEOUT_S} s: {exc.stdout!r}")
        print(driver.stdout[-6000:], driver.stderr[-4000:], sep="\n")
        lines = [ln for ln in driver.stdout.splitlines() if ln.startswith("RESULT ")]
        result = json.loads(lines[-1].removeprefix("RESULT ")) if lines else {}
        assert driver.returncode == 0, (
            f"VS Code end-to-end ({scenario}) failed: "
            f"{result.get('error') or driver.stderr[-2000:]}\nscreenshots and logs: {artifacts}"
        )
        # e.g. "command 'infill.fixFunction' already exists": the language client registers
        # the server's commands itself, so ours must not collide with them
        assert not result["errors"], f"VS Code reported errors: {result['errors']}"
        passed = True
        return result, workspace
    finally:
        _stop(proc)
        _keep_logs(data, log, artifacts, failed=not passed)


def test_extension_lint_and_unit_tests(provisioned: dict[str, str]):
    """The extension's eslint and its unit tests (plain Node, no VS Code), so CI runs them."""
    env = {
        **os.environ,
        "PATH": os.pathsep.join(
            [str(Path(provisioned["INFILL_E2E_NODE"]).parent), os.environ["PATH"]]
        ),
        "INFILL_PYTHON": sys.executable,  # dumps lsp_server's settings model for the drift test
    }
    for script in ("lint", "test"):
        proc = subprocess.run(
            ["npm", "run", "--silent", script],
            cwd=EXTENSION,
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
            check=False,
        )
        assert proc.returncode == 0, (
            f"npm run {script}:\n{proc.stdout[-4000:]}{proc.stderr[-2000:]}"
        )


def _check_acceptance(result: dict, demo: str, tmp_path: Path) -> None:
    """The server counted the accept from the editor's own commands: Ctrl+Right's word (the
    extension's keybinding sends ``infill.accepted`` "word" with its length) and Tab's rest (VS
    Code runs the item's command: ``infill.accepted`` "full", through the language client)."""
    before, after = result["acceptanceBefore"], result["acceptance"]
    assert before.get("accepted", 0) == 0 and before.get("shown", 0) == 0, before
    assert after.get("accepted") == 1 and after.get("shown", 0) >= 1, after
    # Every character after the typed prefix was accepted, the word's too: without the word's
    # command the server would have taken the word for typing, and counted the rest only.
    original = (E2E / "fixture" / "demo.py").read_text(encoding="utf-8")
    accepted = demo[len(original) + len(result["typed"]) :]
    n = after.get("charsAccepted")
    assert len(accepted.rstrip("\n")) <= n <= len(accepted), (accepted, after, result)
    if result.get("wordWasAll"):
        print("Ctrl+Right took all of the suggestion (one word): a full accept")
    else:
        assert result["acceptedWord"] and n > len(result["acceptedWord"]), (after, result)
    # The status bar tooltip shows the totals (refreshed after the accept).
    assert "Accepted 1 of " in result["tooltip"], result["tooltip"]
    assert "delete the acceptance statistics" in result["deleteStatsDialog"], result
    # ...and the statistics file has it (written within 5 s; the session went on for longer).
    stored = stored_acceptance(tmp_path / "stats.sqlite3")
    assert stored.get("accepted") == 1 and stored.get("charsAccepted") == n, stored
    print(f"acceptance: session {after}; stored {stored}; tooltip {result['tooltip']!r}")


@pytest.mark.e2e
@pytest.mark.model
def test_vscode_end_to_end(provisioned: dict[str, str], tmp_path: Path):
    result, workspace = run_vscode(provisioned, tmp_path, ARTIFACTS, sys.executable)
    assert result["readyLabel"].startswith("infill-lsp: ready, model "), result

    # The accepted suggestion is in the saved file: the typed prefix and the ghost text.
    demo = (workspace / "demo.py").read_text(encoding="utf-8")
    last = demo.rstrip("\n").splitlines()[-1]
    assert last.startswith("    return ") and len(last.strip()) > len("return"), demo
    assert last.rstrip() == result["acceptedLine"].rstrip(), (demo, result)
    assert result["ghost"].strip() in last, (demo, result)
    compile(demo, "demo.py", "exec")
    _check_acceptance(result, demo, tmp_path)

    # The cursor rested after the accept: the extension sent infill/cursor (debounced) and the
    # server started a warm-up there (infill/status totals, from "Show Server Status").
    totals = result["totals"]
    assert totals.get("warmups", 0) > totals.get("warmupsBefore", 0), (
        f"no warm-up after the cursor rested in another file: {totals}"
    )
    print(f"server totals after the cursor rested: {totals}")

    # The status bar item toggled completions off and on.
    assert result["toggledOff"] == "infill-lsp: disabled", result
    assert result["toggledOn"].startswith("infill-lsp: ready"), result

    # "Fix this function", from the palette command and from the code action menu: each fixed
    # text passes total()'s docstring examples (the default model's usual answer is
    # `result = 0`; another line that makes them pass is a fix too), the rest is intact.
    message = result["fixMessage"]
    assert message.startswith("infill-lsp: ") and "no change" not in message, result
    for how in ("paletteFix", "codeActionFix"):
        _assert_fixed(result[how], tmp_path / f"{how}.py", how)
    saved = (workspace / "buggy.py").read_text(encoding="utf-8")
    assert saved.rstrip("\n") == result["codeActionFix"].rstrip("\n"), saved
    print(
        f"fixes: palette {_changed(result['paletteFix'])}, code action "
        f"{_changed(result['codeActionFix'])}; message {message!r}"
    )
    assert (ARTIFACTS / "02-ghost-text.png").is_file()


@pytest.mark.e2e
def test_vscode_interpreter_without_the_server(provisioned: dict[str, str], tmp_path: Path):
    """An interpreter that cannot import lsp_server: an error notification with the install
    command and an Open Settings button (which opens infill.pythonPath), a stopped status bar
    item; not a silent failure."""
    python = tmp_path / "python-without-server"
    # -I -S: no site-packages, no PYTHONPATH: lsp_server is not importable
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" -I -S "$@"\n')
    python.chmod(0o755)
    result, _ = run_vscode(provisioned, tmp_path, MISSING_ARTIFACTS, str(python), "missing-server")
    assert f"{python} -m pip install 'infill-lsp[model]'" in result["errorMessage"], result
    assert result["stoppedLabel"].startswith("infill-lsp: stopped"), result
    assert result["settingShown"].replace(" ", "").endswith("PythonPath"), result
