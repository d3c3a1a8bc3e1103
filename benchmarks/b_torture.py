"""Torture: does every request get an answer, does the server survive every fault, does memory
stay bounded? The real server over stdio with the real default model, seeded.

Phases (each reports what it saw; every request's answer is tallied):
  edits      a CRLF document full of astral emoji, CJK, combining marks, form feeds and
             U+2028 gets N random incremental edits, with inline completions cancelled at
             once, completions and code actions on random ranges in between; the server's copy
             is checked against ours (infill/status digest) along the way
  malformed  requests whose params do not deserialize or lie outside the document
  stale      a didChange with a stale version, then a full sync
  huge       a 2 MB line and a binary-looking document
  storm      N inline completions on one document, half cancelled: time until all answered
  files      N real files (the stdlib) opened, some completed, closed: RSS before and after
  watch      N files created at once in the workspace: the index catches up, typing goes on
  remote     a second server whose team engine accepts connections and never answers
  sigterm    SIGTERM while a fix runs: how fast the server goes, and that it goes cleanly
Finally a plain request must still get a real suggestion.

    python -m benchmarks.b_torture                      # the full run (README table)
    python -m benchmarks.b_torture --versus-rev REV     # the same run against an older server

A short variant runs in CI (tests/e2e/test_torture.py).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import Future, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.common import REPO, RESULTS, median, process_memory_kb, worktree
from benchmarks.lsp_client import (
    AUTOMATIC,
    SERVER_CMD,
    LspClient,
    LspError,
    ServerCrashed,
    utf16_position,
)

TABLES = REPO / "benchmarks" / "tables"
INLINE = "textDocument/inlineCompletion"
CANCELLED = -32800
INTERNAL = -32603
ANSWER_DEADLINE_S = 120.0  # what "unanswered" means: no answer this long after the phase

# Inserted at random places: the characters editors and servers get wrong (UTF-16 surrogate
# pairs, grapheme clusters, CJK, a form feed / U+2028 / U+0085 inside a line, CRLF breaks).
PIECES = [
    "x",
    "😀",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
    "漢字かな",
    "e\u0301",
    "🧑\u200d💻",
    "\r\n",
    "    ",
    "\x0c",
    "\u2028",
    "\x85",
    "def g(ä):\r\n    return 'ü😀'\r\n",
    "# コメント 🎉\r\n",
    "(",
    ")",
    "\t",
]
SEED_TEXT = (
    "# -*- coding: utf-8 -*-\r\n"
    '"""Unicode torture 😀 — 漢字 — cafe\u0301 — 𝔘𝔫𝔦𝔠𝔬𝔡𝔢."""\r\n'
    "\x0c\r\n"
    "def fibonacci(n):\r\n"
    '    """The n-th Fibonacci number 🧮."""\r\n'
    "    a, b = 0, 1\r\n"
    "    for _ in range(n):\r\n"
    "        a, b = b, a + b\r\n"
    "    return a\r\n"
    "\r\n"
    "GREETING = '你好, 世界 👋'\r\n"
    "\r\n"
    "def is_even(n):\r\n"
    "    \r\n"
)
MAX_DOC_CHARS = 20_000


@dataclass
class Plan:
    edits: int = 3000
    storm: int = 300
    files: int = 500
    watch_files: int = 10_000
    seed: int = 7
    remote: bool = True
    sigterm: bool = True


@dataclass
class Tally:
    """Every request sent, and what came back."""

    sent: Counter = field(default_factory=Counter)
    answered: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)  # "method code"
    internal: list[str] = field(default_factory=list)
    pending: list[tuple[str, Future]] = field(default_factory=list)

    def send(self, client: LspClient, method: str, params: Any) -> tuple[int, Future]:
        request_id, future = client.send_request(method, params)
        self.sent[method] += 1
        self.pending.append((method, future))
        future.add_done_callback(lambda f, m=method: self._done(m, f))
        return request_id, future

    def _done(self, method: str, future: Future) -> None:
        exc = future.exception()
        if isinstance(exc, ServerCrashed):
            return  # not an answer
        self.answered[method] += 1
        if isinstance(exc, LspError):
            code = exc.error.get("code") if isinstance(exc.error, dict) else None
            self.errors[f"{method} {code}"] += 1
            if code == INTERNAL:
                self.internal.append(f"{method}: {exc.error.get('message')}")

    def drain(self, deadline_s: float = ANSWER_DEADLINE_S) -> float:
        """Seconds until every request sent so far was answered (or the deadline)."""
        started = time.monotonic()
        wait([f for _, f in self.pending], timeout=deadline_s)
        return time.monotonic() - started

    def unanswered(self) -> list[str]:
        """Requests with no answer: still waiting, or cut off by the server's end."""
        return [m for m, f in self.pending if not f.done() or _crashed(f)]

    def summary(self) -> dict[str, Any]:
        return {
            "sent": sum(self.sent.values()),
            "answered": sum(self.answered.values()),
            "unanswered": len(self.unanswered()),
            "unansweredMethods": dict(Counter(self.unanswered())),
            "errors": dict(self.errors),
            "internalErrors": self.internal,
        }


def _crashed(future: Future) -> bool:
    return future.done() and isinstance(future.exception(), ServerCrashed)


def settle(future: Future, timeout: float = 120.0) -> Any:
    """The result, or None when the answer was an error or none came (both are tallied)."""
    try:
        return future.result(timeout)
    except Exception:  # LspError, ServerCrashed, a timeout: the tally has it
        return None


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Document:
    """Our copy of a document, edited as an editor would and sent incrementally."""

    def __init__(self, client: LspClient, uri: str, text: str) -> None:
        self.client, self.uri, self.text, self.version = client, uri, text, 1
        client.open(uri, text)

    def position(self, offset: int) -> dict[str, int]:
        line, character = utf16_position(self.text, offset)
        return {"line": line, "character": character}

    def edit(self, start: int, end: int, new: str) -> None:
        a, b = self.position(start), self.position(end)
        self.version += 1
        self.client.change(
            self.uri, self.version, (a["line"], a["character"]), (b["line"], b["character"]), new
        )
        self.text = self.text[:start] + new + self.text[end:]

    def safe(self, offset: int) -> int:
        """Never between a CR and its LF (our position helper counts lines at LF)."""
        if (
            0 < offset < len(self.text)
            and self.text[offset - 1] == "\r"
            and self.text[offset] == "\n"
        ):
            return offset - 1
        return offset

    def held(self, tally: Tally) -> dict[str, Any]:
        _, future = tally.send(self.client, "infill/status", {"textDocument": {"uri": self.uri}})
        return future.result(60).get("document") or {}  # {}: a server that cannot tell


ADD = "def add(a, b):\n    return "  # the small document timed requests are asked in


def add_document(client: LspClient, root: Path, name: str) -> Document:
    return Document(client, (root / name).as_uri(), ADD)


def complete_add(client: LspClient, tally: Tally, doc: Document) -> tuple[Any, float]:
    """An invoked completion after ``return `` in an ``add_document``: (its result, or None
    when it was an error or none came, and the milliseconds it took)."""
    started = time.monotonic()
    params = inline_params(doc.uri, {"line": 1, "character": len("    return ")}, 1)
    result = settle(tally.send(client, INLINE, params)[1])
    return result, (time.monotonic() - started) * 1000


def inline_params(uri: str, position: dict[str, int], trigger: int = AUTOMATIC) -> dict:
    return {"textDocument": {"uri": uri}, "position": position, "context": {"triggerKind": trigger}}


def phase_edits(client: LspClient, tally: Tally, rng: random.Random, root: Path, n: int) -> dict:
    folder = root / "my dir ünïcode"  # a percent-encoded URI, as VS Code sends for such paths
    folder.mkdir(exist_ok=True)
    doc = Document(client, (folder / "tortüre.py").as_uri(), SEED_TEXT)
    mismatches, checks = 0, 0  # checks None: the server cannot say what it holds
    started = time.monotonic()
    for i in range(1, n + 1):
        size = len(doc.text)
        start = doc.safe(rng.randrange(size + 1))
        if (rng.random() < 0.35 and size > 0) or size > MAX_DOC_CHARS:
            end = doc.safe(min(size, start + rng.randint(1, 15)))
        else:
            end = start
        doc.edit(start, end, "" if end > start and rng.random() < 0.5 else rng.choice(PIECES))
        cursor = doc.position(doc.safe(rng.randrange(len(doc.text) + 1)))
        if i % 7 == 0:  # a keystroke's completion, cancelled by the next one
            request_id, _ = tally.send(client, INLINE, inline_params(doc.uri, cursor))
            client.cancel(request_id)
        if i % 50 == 0:
            tally.send(
                client,
                "textDocument/completion",
                {"textDocument": {"uri": doc.uri}, "position": cursor},
            )
        if i % 100 == 0:
            a = doc.safe(rng.randrange(len(doc.text) + 1))
            b = doc.safe(rng.randrange(a, len(doc.text) + 1))
            params = {
                "textDocument": {"uri": doc.uri},
                "range": {"start": doc.position(a), "end": doc.position(b)},
                "context": {"diagnostics": [], "triggerKind": 2},
            }
            tally.send(client, "textDocument/codeAction", params)
        if (i % 500 == 0 or i == n) and checks is not None:
            held = doc.held(tally)
            if not held:
                checks = None
                continue
            checks += 1
            mismatches += (
                held.get("sha256") != digest(doc.text) or held.get("version") != doc.version
            )
    return {
        "edits": n,
        "seconds": round(time.monotonic() - started, 1),
        "syncChecks": checks,
        "syncMismatches": mismatches,
        "drainS": round(tally.drain(), 2),
        "finalChars": len(doc.text),
    }


def malformed_cases(uri: str) -> list[tuple[str, str, Any]]:
    """(name, method, params): each must be answered with an error."""
    position = {"line": 0, "character": 0}
    context = {"triggerKind": 1}
    return [
        (
            "negative position",
            INLINE,
            {
                "textDocument": {"uri": uri},
                "position": {"line": -1, "character": -5},
                "context": context,
            },
        ),
        ("no textDocument", INLINE, {"position": position, "context": context}),
        (
            "wrong types",
            INLINE,
            {
                "textDocument": {"uri": uri},
                "position": {"line": "x", "character": None},
                "context": context,
            },
        ),
        ("params null", INLINE, None),
        ("params a list", INLINE, [1, 2]),
        (
            "line past the end",
            INLINE,
            {
                "textDocument": {"uri": uri},
                "position": {"line": 10**6, "character": 0},
                "context": context,
            },
        ),
        ("completion without position", "textDocument/completion", {"textDocument": {"uri": uri}}),
        (
            "codeAction without range",
            "textDocument/codeAction",
            {"textDocument": {"uri": uri}, "context": {"diagnostics": []}},
        ),
        (
            "codeAction past the end",
            "textDocument/codeAction",
            {
                "textDocument": {"uri": uri},
                "range": {"start": position, "end": {"line": 10**6, "character": 0}},
                "context": {"diagnostics": []},
            },
        ),
        ("resolve without data", "codeAction/resolve", {"title": "Fix this function"}),
        (
            "command with a number",
            "workspace/executeCommand",
            {"command": "infill.fixFunction", "arguments": [5]},
        ),
        (
            "command with no target",
            "workspace/executeCommand",
            {"command": "infill.fixFunction", "arguments": [{"uri": uri}]},
        ),
        ("unknown command", "workspace/executeCommand", {"command": "no.such", "arguments": []}),
        ("unknown method", "infill/noSuchThing", {}),
    ]


def phase_malformed(client: LspClient, tally: Tally, root: Path) -> dict:
    uri = Document(client, (root / "malformed.py").as_uri(), "def f(x):\n    return x\n").uri
    answers: dict[str, Any] = {}
    for name, method, params in malformed_cases(uri):
        _, future = tally.send(client, method, params)
        try:
            future.result(30)
            answers[name] = "result"
        except LspError as exc:
            answers[name] = exc.error.get("code")
        except Exception as exc:  # what a user would see: no answer
            answers[name] = f"no answer ({type(exc).__name__})"
    return {"answers": answers, "errorsAnswered": sum(isinstance(v, int) for v in answers.values())}


def phase_stale(client: LspClient, tally: Tally, root: Path) -> dict:
    doc = Document(client, (root / "stale.py").as_uri(), "def f(x):\n    return x\n")
    doc.edit(0, 0, "# one\n")  # version 2
    client.change(doc.uri, 2, (0, 0), (0, 0), "# stale\n")  # version 2 again: refused
    refused = doc.held(tally)
    _, future = tally.send(client, INLINE, inline_params(doc.uri, {"line": 2, "character": 4}, 1))
    while_out = LspClient.first_insert_text(future.result(60))
    doc.version += 5
    client.change_full(doc.uri, doc.text, doc.version)
    synced = doc.held(tally)
    return {
        "outOfSyncSaid": bool(refused.get("outOfSync")),
        "suggestionWhileOutOfSync": bool(while_out),
        "inSyncAfterFullSync": synced.get("sha256") == digest(doc.text)
        and not synced.get("outOfSync"),
    }


def phase_huge(client: LspClient, tally: Tally, root: Path) -> dict:
    out: dict[str, Any] = {}
    for name, text in {
        "2MB line": "x = '" + "a" * 2_000_000 + "'\n",
        "binary": "\x00\x01\x02PNG\x00" * 2000,
    }.items():
        doc = Document(client, (root / f"{name.replace(' ', '_')}.py").as_uri(), text)
        started = time.monotonic()
        _, future = tally.send(
            client, INLINE, inline_params(doc.uri, {"line": 0, "character": 3}, 1)
        )
        try:
            result = LspClient.first_insert_text(future.result(120))
            out[name] = {
                "ms": round((time.monotonic() - started) * 1000),
                "suggestion": bool(result),
            }
        except Exception as exc:
            out[name] = {"error": str(exc)}
        client.close(doc.uri)
    return out


def phase_storm(client: LspClient, tally: Tally, root: Path, n: int) -> dict:
    doc = Document(client, (root / "storm.py").as_uri(), SEED_TEXT.replace("\r\n", "\n"))
    position = doc.position(len(doc.text))
    storm = Tally()
    started = time.monotonic()
    for i in range(n):
        request_id, _ = storm.send(client, INLINE, inline_params(doc.uri, position))
        if i % 2:
            client.cancel(request_id)
    drain = storm.drain()
    tally.sent.update(storm.sent)
    tally.answered.update(storm.answered)
    tally.errors.update(storm.errors)
    tally.internal.extend(storm.internal)
    tally.pending.extend(storm.pending)
    return {
        "requests": n,
        "sendS": round(drain and (time.monotonic() - started - drain), 2),
        "drainS": round(drain, 2),
        "cancelledAnswers": storm.errors.get(f"{INLINE} {CANCELLED}", 0),
        "unanswered": len(storm.unanswered()),
    }


def real_files(n: int) -> list[Path]:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(
        p
        for p in stdlib.rglob("*.py")
        if "site-packages" not in p.parts and p.stat().st_size < 200_000
    )
    return files[:: max(1, len(files) // n)][:n]


def phase_files(
    client: LspClient, tally: Tally, n: int, complete_every: int = 10, rounds: int = 2
) -> dict:
    """N real files opened, every ``complete_every``-th completed, closed; ``rounds`` times
    over the same files: growth in the first round can be allocator high-water marks, growth
    in the later ones would be a leak."""
    rss = [process_memory_kb(client.pid).get("VmRSS", 0)]
    latencies = []
    files = real_files(n)
    for _ in range(rounds):
        for i, path in enumerate(files):
            text = path.read_text(encoding="utf-8", errors="replace")
            uri = path.as_uri()
            client.open(uri, text)
            if i % complete_every == 0:
                line = len(text.splitlines()) // 2
                started = time.monotonic()
                params = inline_params(uri, {"line": line, "character": 0}, 1)
                if settle(tally.send(client, INLINE, params)[1]) is not None:
                    latencies.append((time.monotonic() - started) * 1000)
            client.close(uri)
        tally.drain()
        time.sleep(1.0)
        rss.append(process_memory_kb(client.pid).get("VmRSS", 0))
    return {
        "files": len(files),
        "rounds": rounds,
        "completions": len(latencies),
        "completionP50Ms": round(median(latencies) or 0),
        "rssMB": [round(kb / 1024) for kb in rss],
        "rssGrowthMB": round((rss[1] - rss[0]) / 1024),
        "rssGrowthLaterRoundsMB": round((rss[-1] - rss[1]) / 1024),
    }


def phase_watch(client: LspClient, tally: Tally, root: Path, n: int) -> dict:
    """N files appear at once (a checkout, a build): typing goes on, the index catches up."""
    target = root / "generated"
    target.mkdir()
    before = (client.status().get("index") or {}).get("files", 0)
    started = time.monotonic()
    for i in range(n):
        (target / f"gen_{i}.py").write_text(f"def generated_{i}(x):\n    return x + {i}\n")
    made_s = time.monotonic() - started
    doc = add_document(client, root, "during_storm.py")
    answers = [complete_add(client, tally, doc) for _ in range(5)]
    latencies = [ms for result, ms in answers if result is not None]
    settled_s, files = None, before
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        files = (client.status().get("index") or {}).get("files", 0)
        if files >= before + n:
            settled_s = time.monotonic() - started
            break
        time.sleep(1.0)
    client.close(doc.uri)
    return {
        "created": n,
        "createS": round(made_s, 1),
        "completionP50MsDuring": round(median(latencies) or 0),
        "indexSettledS": round(settled_s, 1) if settled_s is not None else None,
        "indexedFiles": files - before,
    }


def phase_index_faults(client: LspClient, tally: Tally, root: Path, index_dir: Path) -> dict:
    """The SQLite index locked by another process, then overwritten with garbage, while the
    server runs and files change: typing goes on, each fault is said once."""
    stores = sorted(index_dir.glob("*.sqlite"))
    if not stores:
        return {"error": f"no index store in {index_dir}"}
    store = stores[0]
    doc = add_document(client, root, "index_faults.py")
    seen = len(client.messages)

    def complete_ms() -> float:
        return complete_add(client, tally, doc)[1]

    def said(word: str, timeout_s: float) -> list[str]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            lines = [m for m in list(client.messages)[seen:] if word in m]
            if lines:
                return lines
            time.sleep(0.5)
        return []

    lock = sqlite3.connect(store, timeout=60)  # the server may be writing: wait our turn
    lock.execute("BEGIN EXCLUSIVE")
    for i in range(20):
        (root / f"while_locked_{i}.py").write_text(f"def locked_{i}():\n    return {i}\n")
    locked_ms = [complete_ms() for _ in range(3)]
    locked_said = said("locked", 15)
    lock.rollback()
    lock.close()
    with open(store, "r+b") as fh:
        fh.write(random.Random(0).randbytes(8192))
    for i in range(5):
        (root / f"after_corruption_{i}.py").write_text(f"def corrupt_{i}():\n    return {i}\n")
    corrupt_ms = [complete_ms() for _ in range(3)]
    corrupt_said = said("corrupt", 40)
    client.close(doc.uri)
    return {
        "lockedSaid": locked_said[:1],
        "lockedMessages": len(locked_said),
        "completionMsWhileLocked": round(median(locked_ms) or 0),
        "corruptSaid": corrupt_said[:1],
        "completionMsAfterCorruption": round(median(corrupt_ms) or 0),
        "storeReadable": _readable(store),
    }


def _readable(store: Path) -> bool:
    try:
        with sqlite3.connect(store) as conn:
            return conn.execute("PRAGMA quick_check").fetchone()[0] == "ok"
    except sqlite3.DatabaseError:
        return False


class SilentEngine:
    """A TCP server that accepts connections, reads, and never answers."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


def phase_remote(command: list[str], cwd: Path | None, root: Path, log: Path) -> dict:
    silent = SilentEngine()
    options = {
        "engine": "llama-server",
        "remoteUrl": f"http://127.0.0.1:{silent.port}",
        "remoteFimDialect": "qwen",
    }
    client = LspClient(command, init_options=options, stderr_log=log, cwd=cwd).start()
    tally = Tally()
    try:
        client.initialize(root=root)
        started = time.monotonic()
        state = client.status()
        while state.get("state") not in ("ready", "error") and time.monotonic() - started < 60:
            time.sleep(0.5)
            state = client.status()
        doc = add_document(client, root, "remote.py")
        latencies = [round(complete_add(client, tally, doc)[1]) for _ in range(4)]
        health = client.status().get("engineHealth")
        return {
            "state": state.get("state"),
            "latenciesMs": latencies,
            "health": health,
            "unanswered": len(tally.unanswered()),
            "alive": client._proc is not None and client._proc.poll() is None,
        }
    finally:
        client.stop()
        silent.close()


def phase_sigterm(client: LspClient, tally: Tally, root: Path) -> dict:
    text = (
        "def mean(xs):\n    total = 0\n    for x in xs:\n        total += x\n"
        "    return total / len(x)\n"
    )
    doc = Document(client, (root / "sigterm.py").as_uri(), text)
    params = {
        "textDocument": {"uri": doc.uri},
        "range": {"start": {"line": 1, "character": 4}, "end": {"line": 1, "character": 4}},
        "context": {"diagnostics": [], "triggerKind": 1},
    }
    _, future = tally.send(client, "textDocument/codeAction", params)
    actions = future.result(60) or []
    if not actions:
        return {"error": "no action offered"}
    client.send_request("codeAction/resolve", actions[0])  # cut off by design: not tallied
    time.sleep(1.5)  # the fix is generating
    assert client._proc is not None
    started = time.monotonic()
    client._proc.send_signal(signal.SIGTERM)
    try:
        code = client._proc.wait(30)
    except subprocess.TimeoutExpired:
        code = None
    return {"exitS": round(time.monotonic() - started, 2), "exitCode": code}


def plain_request(client: LspClient, tally: Tally, root: Path) -> dict:
    result, ms = complete_add(client, tally, add_document(client, root, "plain.py"))
    return {"suggestion": LspClient.first_insert_text(result), "ms": round(ms)}


def run(
    plan: Plan, command: list[str] | None = None, cwd: Path | None = None, label: str = "current"
) -> dict:
    rng = random.Random(plan.seed)
    work = Path(tempfile.mkdtemp(prefix="infill-torture-"))
    root = work / "workspace"
    root.mkdir()
    (root / "util.py").write_text("def helper(x):\n    return x * 2\n")
    index_dir = work / "index"  # the server's SQLite index, where the faults can reach it
    os.environ["INFILL_LSP_INDEX_DIR"] = str(index_dir)
    RESULTS.mkdir(parents=True, exist_ok=True)
    log = RESULTS / f"torture-{label}.log"
    command = command or SERVER_CMD
    tally = Tally()
    report: dict[str, Any] = {"label": label, "plan": asdict(plan)}
    client = LspClient(command, init_options={"model": "0.5b"}, stderr_log=log, cwd=cwd).start()
    try:
        client.initialize(root=root)
        client.wait_ready()
        report["rssReadyMB"] = round(process_memory_kb(client.pid).get("VmRSS", 0) / 1024)
        phases = [
            ("edits", lambda: phase_edits(client, tally, rng, root, plan.edits)),
            ("malformed", lambda: phase_malformed(client, tally, root)),
            ("stale", lambda: phase_stale(client, tally, root)),
            ("huge", lambda: phase_huge(client, tally, root)),
            ("storm", lambda: phase_storm(client, tally, root, plan.storm)),
            ("files", lambda: phase_files(client, tally, plan.files)),
            ("watch", lambda: phase_watch(client, tally, root, plan.watch_files)),
            ("index", lambda: phase_index_faults(client, tally, root, index_dir)),
            ("plain", lambda: plain_request(client, tally, root)),
        ]
        for name, phase in phases:
            if client._dead is not None:
                report[name] = {"skipped": "server dead"}
                continue
            started = time.monotonic()
            try:
                report[name] = phase()
            except Exception as exc:  # a phase that breaks is a finding
                report[name] = {"failed": f"{type(exc).__name__}: {exc}"}
            print(
                f"{name} ({time.monotonic() - started:.0f} s): {json.dumps(report[name])[:400]}",
                flush=True,
            )
        report["peakRssMB"] = round(process_memory_kb(client.pid).get("VmHWM", 0) / 1024)
        report["alive"] = (
            client._dead is None and client._proc is not None and client._proc.poll() is None
        )
        if plan.sigterm and report["alive"]:
            report["sigterm"] = phase_sigterm(client, tally, root)
            print(f"sigterm: {report['sigterm']}", flush=True)
    finally:
        client.stop()
    if plan.remote:
        report["remote"] = phase_remote(command, cwd, root, RESULTS / f"torture-{label}-remote.log")
        print(f"remote: {json.dumps(report['remote'])}", flush=True)
    tally.drain(5.0)
    report["requests"] = tally.summary()
    log_text = log.read_text(errors="replace")
    report["tracebacks"] = log_text.count("Traceback (most recent call last)")
    shutil.rmtree(work, ignore_errors=True)
    return report


ROWS: list[tuple[str, Any]] = [
    (
        "requests sent / answered / unanswered",
        lambda r: "{sent} / {answered} / {unanswered}".format(**r["requests"]),
    ),
    (
        "malformed answered with an error",
        lambda r: f"{r['malformed']['errorsAnswered']} of {len(r['malformed']['answers'])}",
    ),
    (
        "internal errors / tracebacks in the log",
        lambda r: f"{len(r['requests']['internalErrors'])} / {r['tracebacks']}",
    ),
    (
        "copy in sync after the edits (checks)",
        lambda r: "{syncMismatches} mismatches in {syncChecks}".format(**r["edits"]),
    ),
    (
        "stale didChange: out of sync said / healed",
        lambda r: "{outOfSyncSaid} / {inSyncAfterFullSync}".format(**r["stale"]),
    ),
    (
        "2 MB line / binary document answered (ms)",
        lambda r: f"{r['huge']['2MB line']['ms']} / {r['huge']['binary']['ms']}",
    ),
    ("storm drain (s)", lambda r: f"{r['storm']['drainS']} ({r['storm']['requests']} requests)"),
    ("RSS ready / peak (MB)", lambda r: f"{r['rssReadyMB']} / {r['peakRssMB']}"),
    (
        "files opened+closed: RSS growth, then a second round (MB)",
        lambda r: "{rssGrowthMB}, then {rssGrowthLaterRoundsMB} ({files} files)".format(
            **r["files"]
        ),
    ),
    (
        "watch storm: index settled (s)",
        lambda r: f"{r['watch']['indexSettledS']} ({r['watch']['created']} files)",
    ),
    ("index locked / corrupted: said, typing (ms)", lambda r: _index_cell(r["index"])),
    ("remote that never answers (ms per request)", lambda r: f"{r['remote']['latenciesMs']}"),
    (
        "SIGTERM during a fix: exit (s, code)",
        lambda r: "{exitS}, {exitCode}".format(**r["sigterm"]),
    ),
    ("plain request afterwards", lambda r: repr(r["plain"]["suggestion"])[:40]),
]


def _index_cell(index: dict) -> str:
    said = f"{index['lockedMessages']} / {len(index['corruptSaid'])}"
    return f"{said}, {index['completionMsWhileLocked']} / {index['completionMsAfterCorruption']}"


def table(reports: list[dict]) -> str:
    head = "| | " + " | ".join(r["label"] for r in reports) + " |\n|---|" + "---|" * len(reports)
    lines = [head]
    for name, cell in ROWS:
        values = []
        for r in reports:
            try:
                values.append(cell(r))
            except (KeyError, TypeError):  # a phase that did not run or did not report it
                values.append("-")
        lines.append(f"| {name} | " + " | ".join(values) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--edits", type=int, default=Plan.edits)
    parser.add_argument("--storm", type=int, default=Plan.storm)
    parser.add_argument("--files", type=int, default=Plan.files)
    parser.add_argument("--watch-files", type=int, default=Plan.watch_files)
    parser.add_argument("--seed", type=int, default=Plan.seed)
    parser.add_argument("--versus-rev", help="also run the torture against this commit's server")
    args = parser.parse_args()
    plan = Plan(args.edits, args.storm, args.files, args.watch_files, args.seed)
    reports = []
    if args.versus_rev:
        tree = worktree(args.versus_rev)
        reports.append(run(plan, cwd=tree, label=args.versus_rev))
    reports.append(run(plan))
    out = RESULTS / "torture.json"
    out.write_text(json.dumps(reports, indent=2))
    summary = table(reports)
    TABLES.mkdir(parents=True, exist_ok=True)
    (TABLES / "torture.txt").write_text(
        f"python -m benchmarks.b_torture {' '.join(sys.argv[1:])}\n\n{summary}\n"
    )
    print(summary)
    print(f"full report: {out}; table: {TABLES / 'torture.txt'}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
