"""Team load: several LSP sessions typing at once against ONE shared remote engine.

    python -m benchmarks.b_team_load                 # 4 sessions vs 1 alone, same engine
    python -m benchmarks.b_team_load --sessions 4 --chars 30 --prefix-tokens 384 --suffix-tokens 128

On a 2-core CPU the one engine evaluates every prompt of the four interleaved sessions afresh
(its single KV slot holds the last session's prompt only): ~130 prompt tokens/s, so the full
1,500/500-token budget costs ~15 s a request. The defaults here keep the run to minutes; a team
box with a GPU serves the full budget.

The engine is llama-cpp-python's OpenAI-compatible server with the default model (what a team
box could run; vLLM/TGI speak the same API), started once. Each session is a real infill-lsp
server process with ``engine: openai``, replaying the B2 typing of its own site (a different
CPython stdlib file each): didChange + automatic inline completion per keystroke, suggestions
accepted when they match. First one session alone (the baseline, same engine, same run), then
all sessions at once. Reported: requests, model requests, errors (must be 0: an error is a
failed request; an empty answer is not one), completions per second, latency p50/p95.
"""

from __future__ import annotations

import argparse
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
from benchmarks.common import median, p95
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


def session(
    name: str, site: Site, url: str, budget: dict, out: dict[str, tuple[list[Sample], int]]
) -> None:
    options = {
        "engine": "openai",
        "remoteUrl": url,
        "remoteModel": ALIAS,
        "prefetch": False,
        **budget,
    }
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
            return Answer(suggestion, ms, source)

        samples = replay(name, site, ask)
    out[name] = (samples, errors)


def run(sites: list[Site], url: str, budget: dict) -> tuple[dict, float]:
    out: dict[str, tuple[list[Sample], int]] = {}
    threads = [
        threading.Thread(target=session, args=(f"s{i}", site, url, budget, out))
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
    errors = sum(e for _, e in out.values())
    model = [s for s in samples if s.source == "model"]
    latency = [s.latency_ms for s in samples]
    return (
        f"{label:22} {len(out):>8} {len(samples):>8} {len(model):>6} {errors:>6} "
        f"{len(model) / wall_s:>9.2f} {median(latency) or 0:>7.0f} {p95(latency):>7.0f} "
        f"{statistics.mean(s.latency_ms for s in model) if model else 0:>9.0f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.b_team_load")
    parser.add_argument("--sessions", type=int, default=4)
    parser.add_argument("--chars", type=int, default=30, help="characters typed per session")
    parser.add_argument("--prefix-tokens", type=int, default=384)
    parser.add_argument("--suffix-tokens", type=int, default=128)
    args = parser.parse_args(argv)
    budget = {"prefixTokens": args.prefix_tokens, "suffixTokens": args.suffix_tokens}
    sites = [Site(str(STDLIB / f), line, args.chars) for f, line in SITES[: args.sessions]]
    port = free_port()
    engine = start_engine(port)
    url = f"http://127.0.0.1:{port}"
    try:
        alone, alone_s = run(sites[:1], url, budget)
        team, team_s = run(sites, url, budget)
    finally:
        engine.kill()
    head = (
        f"{'run':22} {'sessions':>8} {'requests':>8} {'model':>6} {'errors':>6} "
        f"{'model/s':>9} {'p50 ms':>7} {'p95 ms':>7} {'model avg':>9}"
    )
    print(
        f"Team load — one llama-cpp-python server ({ALIAS}, 2 threads), {args.chars} chars "
        f"typed per session, prefix/suffix budget {args.prefix_tokens}/{args.suffix_tokens} tokens"
    )
    print(head)
    print("-" * len(head))
    print(summary("1 session (baseline)", alone, alone_s))
    print(summary(f"{args.sessions} sessions at once", team, team_s))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
