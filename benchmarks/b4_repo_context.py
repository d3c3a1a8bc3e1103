"""B4 — repository context uplift, over LSP, cross-file context off vs on in ONE server.

    python -m benchmarks.b4_repo_context                    # 219 tasks, both variants
    python -m benchmarks.b4_repo_context --limit 20 --json benchmarks/results/b4.jsonl

Tasks: ``benchmarks.b4_tasks`` (lines of rich 15.0.0 that use a name defined in another file).
The server is started with the project as its workspace folder, so it indexes it exactly as it
would for a user; the index is built before the first task. For each file, its tasks run with
``repoContext`` off, then on (switched with didChangeConfiguration: machine load hits both
alike): didOpen of the file with the task's line emptied after its indentation, an invoked
inline completion at that point, didClose. Scored on the first line of the answer: exact match
(EM, whitespace-trimmed) and edit similarity (ES, 1 - Levenshtein / longer length).

Same budget: the prompt's token budget is the same in both variants; with context on, the
snippets' tokens come out of the prefix budget (the server's behaviour, not a benchmark
choice). Reported too: how many snippets went in, retrieval time per request (p50 / p95) and
latency per variant.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.b4_tasks import PROJECT, VERSION, Task, generate, masked
from benchmarks.common import RESULTS, median, p95, parse_sets
from benchmarks.lsp_client import SERVER_CMD, LspClient

# Smaller windows than an editor's default: on this 2-core machine every task is a new file,
# i.e. a whole prompt to evaluate (~100 tokens/s); both variants get the same.
BENCH_SETTINGS: dict[str, Any] = {
    "prefixTokens": 768,
    "suffixTokens": 192,
    "repoContextTokens": 320,
    "maxTokens": 48,  # the first line is what is scored (whole lines kept when cut)
    "maxTimeMs": 0,  # no time cap: the answer must not depend on machine load
    "prefetch": False,
}
VARIANTS = {"off": {"repoContext": False}, "on": {"repoContext": True}}


@dataclass
class Row:
    variant: str
    task_id: str
    target: str
    answer: str
    exact: bool
    similarity: float
    latency_ms: float
    snippets: int
    retrieval_ms: float


def levenshtein(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def similarity(a: str, b: str) -> float:
    if not a and not b:
        return 1.0
    return 1 - levenshtein(a, b) / max(len(a), len(b))


def first_line(answer: str) -> str:
    return answer.split("\n", 1)[0].strip()


def run_task(client: LspClient, root: Path, task: Task, variant: str, timeout: float) -> Row:
    uri = (root / task.path).as_uri()
    text = masked(root, task)
    client.open(uri, text)
    try:
        answer, latency = client.inline_completion(
            uri, task.line, len(task.indent.encode("utf-16-le")) // 2, timeout=timeout
        )
        last = client.status().get("last", {})
    finally:
        client.close(uri)
    got = first_line(answer)
    return Row(
        variant,
        task.task_id,
        task.target,
        got,
        got == task.target,
        round(similarity(got, task.target), 4),
        round(latency, 1),
        int(last.get("snippets", 0)),
        float(last.get("retrievalMs", 0.0)),
    )


def summarize(variant: str, rows: list[Row]) -> dict[str, Any]:
    n = len(rows)
    retrieval = [r.retrieval_ms for r in rows]
    return {
        "variant": variant,
        "tasks": n,
        "exact": sum(r.exact for r in rows),
        "emPct": 100 * sum(r.exact for r in rows) / n if n else 0.0,
        "esPct": 100 * sum(r.similarity for r in rows) / n if n else 0.0,
        "withSnippetsPct": 100 * sum(r.snippets > 0 for r in rows) / n if n else 0.0,
        "snippetsMean": sum(r.snippets for r in rows) / n if n else 0.0,
        "retrievalP50Ms": median(retrieval),
        "retrievalP95Ms": p95(retrieval) if retrieval else None,
        "p50Ms": median([r.latency_ms for r in rows]),
        "p95Ms": p95([r.latency_ms for r in rows]) if rows else None,
    }


def print_table(summaries: list[dict[str, Any]], index: dict[str, Any]) -> None:
    print(f"B4 — {PROJECT} {VERSION}; index: {index}")
    head = (
        f"{'context':8} {'tasks':>5} {'EM':>14} {'ES':>7} {'w/ snippets':>11} "
        f"{'retrieval p50/p95 ms':>21} {'p50 ms':>7} {'p95 ms':>7}"
    )
    print(head)
    print("-" * len(head))
    for s in summaries:
        print(
            f"{s['variant']:8} {s['tasks']:>5} {s['exact']:>5} ({s['emPct']:5.1f}%) "
            f"{s['esPct']:6.1f}% {s['withSnippetsPct']:>10.0f}% "
            f"{s['retrievalP50Ms'] or 0:>10.2f} / {s['retrievalP95Ms'] or 0:>7.2f} "
            f"{s['p50Ms'] or 0:>7.0f} {s['p95Ms'] or 0:>7.0f}"
        )
    if len(summaries) == 2:
        delta = summaries[1]["emPct"] - summaries[0]["emPct"]
        print(f"uplift: {delta:+.1f} EM points, "
              f"{summaries[1]['esPct'] - summaries[0]['esPct']:+.1f} ES points")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.b4_repo_context")
    parser.add_argument("--limit", type=int, default=0, help="only the first N tasks")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", help="GGUF path (default: the embedded model)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--json", type=Path, help="write one JSON line per task and variant")
    args = parser.parse_args(argv)
    root, tasks = generate(seed=args.seed)
    if args.limit:
        tasks = tasks[: args.limit]
    options = {**BENCH_SETTINGS, **parse_sets(args.set)}
    if args.model:
        options["modelPath"] = args.model
    rows: dict[str, list[Row]] = {v: [] for v in VARIANTS}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
    env_log = RESULTS / "b4-server.log"
    load_start = os.getloadavg()
    command = [*SERVER_CMD, "--log-level", "INFO"]
    with LspClient(command, init_options=options, stderr_log=env_log) as client:
        client.initialize(root=root)
        ready = client.wait_ready()
        print(f"[b4] ready: {ready.get('model', {}).get('path')}", file=sys.stderr, flush=True)
        index = {}
        for _ in range(1200):  # the background scan of the workspace, to its end
            index = client.status().get("index") or {}
            if index.get("lastScanMs"):
                break
            time.sleep(0.5)
        by_file: dict[str, list[Task]] = {}
        for task in tasks:
            by_file.setdefault(task.path, []).append(task)
        done = 0
        out = args.json.open("w") if args.json else None  # row by row: a cut run keeps its rows
        for group in by_file.values():
            for variant, settings in VARIANTS.items():
                change = {"settings": {**options, **settings}}
                client.notify("workspace/didChangeConfiguration", change)
                for task in group:
                    row = run_task(client, root, task, variant, args.timeout)
                    rows[variant].append(row)
                    if out is not None:
                        out.write(json.dumps(asdict(row)) + "\n")
                        out.flush()
            done += len(group)
            em = ", ".join(f"{v} {sum(r.exact for r in rows[v])}" for v in VARIANTS)
            print(f"[b4] {done}/{len(tasks)} exact: {em}", file=sys.stderr, flush=True)
        if out is not None:
            out.close()
    summaries = [summarize(v, rows[v]) for v in VARIANTS]
    load = os.getloadavg()
    print(f"load average at start {load_start[0]:.2f}, at end {load[0]:.2f}")
    print_table(summaries, index)
    if args.json:
        summary = args.json.with_suffix(".summary.json")
        record = {"summaries": summaries, "index": index, "settings": options}
        summary.write_text(json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
