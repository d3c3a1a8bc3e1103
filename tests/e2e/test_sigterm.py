"""SIGTERM in the middle of a fix, to the real `infill-lsp fix` and to the real server, each
running the user's named test (a child process that would run for a minute): the process goes
within seconds with status 143 and one line on stderr, the file is byte-identical, no message
is cut and the child does not outlive it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks.lsp_client import LspClient
from lsp_server.terminate import EXIT_TERMINATED

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.model,
    pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc"),
]

ROOT = Path(__file__).resolve().parents[2]
CALC = (
    "def total(numbers):\n    result = 1\n    for n in numbers:\n        result += n\n"
    "    return result\n"
)
SLOW_TEST = """import time

from calc import total


def test_total():
    time.sleep(60)
    assert total([]) == 0
"""
NODE = "tests/test_calc.py::test_total"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text('[tool.pytest.ini_options]\npythonpath = ["."]\n')
    (tmp_path / "calc.py").write_bytes(CALC.encode())
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_calc.py").write_text(SLOW_TEST)
    return tmp_path


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()  # after "(command name)"
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(entry.name))
    return found


def wait_for_child(pid: int, timeout_s: float = 60) -> list[int]:
    """The named test's run: the fix is under way once it exists."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if kids := children(pid):
            return kids
        time.sleep(0.1)
    raise AssertionError("the fix never ran the named test")


def alive(pids: list[int]) -> list[int]:
    time.sleep(0.3)  # SIGKILL delivered, the child reaped by init
    left = []
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            left.append(pid)
            os.kill(pid, signal.SIGKILL)  # never leave it running after a failed test
    return left


def test_sigterm_mid_fix_in_the_cli(project: Path):
    before = (project / "calc.py").read_bytes()
    proc = subprocess.Popen(
        [sys.executable, "-m", "lsp_server", "fix", f"{project}/calc.py:2", "--test", NODE],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    kids = wait_for_child(proc.pid)
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert time.monotonic() - started < 5
    assert proc.returncode == EXIT_TERMINATED
    assert err.decode().splitlines() == [
        "infill-lsp: fix terminated (SIGTERM); no file was changed"
    ]
    assert out == b""  # no half diff
    assert (project / "calc.py").read_bytes() == before
    assert alive(kids) == []


def test_sigterm_mid_fix_in_the_server(project: Path):
    log = project / "server.log"
    client = LspClient(init_options={"fixCandidates": 1}, stderr_log=log, cwd=project).start()
    try:
        client.initialize(root=project)
        client.wait_ready()
        uri = (project / "calc.py").as_uri()
        client.open(uri, CALC)
        where = {"line": 1, "character": 4}
        actions = client.request(
            "textDocument/codeAction",
            {
                "textDocument": {"uri": uri},
                "range": {"start": where, "end": where},
                "context": {"diagnostics": []},
            },
        )
        action = {**actions[0], "data": {**actions[0]["data"], "test": NODE}}
        _, fix = client.send_request("codeAction/resolve", action)
        kids = wait_for_child(client.pid)
        started = time.monotonic()
        client._proc.send_signal(signal.SIGTERM)
        code = client._proc.wait(30)
        assert time.monotonic() - started < 5
        assert code == EXIT_TERMINATED
        lines = log.read_text().splitlines()
        assert len(lines) == 1 and "SIGTERM" in lines[0] and "143" in lines[0], lines
        failure = fix.exception(10)  # the fix was never answered: no edit, half or whole
        assert "closed its output" in str(failure)  # and no message on the wire was cut
        assert (project / "calc.py").read_bytes() == CALC.encode()
        assert alive(kids) == []
    finally:
        client.stop()


def test_sigterm_right_after_an_accept_keeps_it_in_the_statistics(tmp_path: Path, monkeypatch):
    """Events are written every few seconds; a SIGTERM (an editor force-stopping its server)
    right after an accept still leaves it in the statistics file."""
    import json

    from benchmarks.lsp_client import INVOKED
    from lsp_server.stats.store import STATS_ENV

    stats = tmp_path / "stats.sqlite3"
    monkeypatch.setenv(STATS_ENV, str(stats))
    options = {"maxTokens": 32, "maxTimeMs": 0}
    client = LspClient(init_options=options, stderr_log=tmp_path / "server.log").start()
    try:
        client.initialize(root=tmp_path)
        client.wait_ready()
        uri = (tmp_path / "odd.py").as_uri()
        client.open(uri, "def is_odd(n):\n    \n")
        answer = client.request(
            "textDocument/inlineCompletion", client.inline_params(uri, 1, 4, INVOKED)
        )
        [item] = answer["items"]
        command = {"command": item["command"]["command"], "arguments": item["command"]["arguments"]}
        assert client.request("workspace/executeCommand", command) == {"counted": True}
        client._proc.send_signal(signal.SIGTERM)
        assert client._proc.wait(30) == EXIT_TERMINATED
    finally:
        client.stop()
    done = subprocess.run(
        [sys.executable, "-m", "lsp_server", "stats", "--json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    stored = json.loads(done.stdout)["all"]
    assert (stored["shown"], stored["accepted"]) == (1, 1)
