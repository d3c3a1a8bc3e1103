"""B1 — HumanEval single-line infilling through the REAL server over LSP.

    python -m benchmarks.b1_humaneval_infill                    # quick set, 207 tasks
    python -m benchmarks.b1_humaneval_infill --baseline-raw     # + raw-model baseline, same run
    python -m benchmarks.b1_humaneval_infill --full --json benchmarks/results/b1.jsonl

Full output goes to the git-ignored ``benchmarks/results/``; a table README cites is copied to
``benchmarks/tables/``.

Each task is a fresh document (``didOpen`` of a new URI, one ``textDocument/inlineCompletion``
with triggerKind Invoked, ``didClose``): no task can see another's text, and there is no
didChange cost in the measured latency. The document is the file with the masked line reduced to
its indentation; the cursor sits after that indentation (as an editor's auto-indent leaves it).
Latency is measured client side (request sent -> response parsed). Prompt/evaluated tokens come
from ``infill/status`` ``last`` after each request. pass@1 checks run after the model work is
done, so they never share the CPU with the model being timed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path
from typing import Any

from benchmarks.b1_report import Row, print_table, score, summarize
from benchmarks.common import REPO, RESULTS, parse_sets, worktree
from benchmarks.humaneval_tasks import (
    InfillTask,
    all_tasks,
    exact_match,
    first_line,
    quick_tasks,
)
from benchmarks.lsp_client import SERVER_CMD, LspClient

PROGRESS_EVERY = 20


def _progress(run: str, rows: list[Row], total: int) -> None:
    done = len(rows)
    if done % PROGRESS_EVERY and done != total:
        return
    em = sum(r.em for r in rows)
    p50 = statistics.median(r.latency_ms for r in rows)
    print(
        f"[{run}] {done}/{total}  EM {em} ({100 * em / done:.1f}%)  p50 {p50:.0f} ms",
        file=sys.stderr,
        flush=True,
    )


# -- the server run -------------------------------------------------------------------------
MAX_CONSECUTIVE_TIMEOUTS = 3


def _server_task(
    client: LspClient, task: InfillTask, calls: int, timeout: float
) -> tuple[Row, int]:
    """One task over LSP; a request that outlives ``timeout`` is cancelled and scored empty."""
    uri = f"file:///infill-b1/{task.task_id.replace('/', '_')}_line{task.line_no}.py"
    client.open(uri, task.document)
    line, character = task.cursor
    started = time.perf_counter()
    request_id, future = client.send_request(
        "textDocument/inlineCompletion", client.inline_params(uri, line, character)
    )
    try:
        got = client.first_insert_text(future.result(timeout))
        mode = None
    except FutureTimeout:
        client.cancel(request_id)
        got, mode = "", "timeout"
    latency = (time.perf_counter() - started) * 1000
    client.close(uri)
    after = client.status()
    new_calls = after.get("totals", {}).get("modelCalls", calls)
    last = (after.get("last") or {}) if new_calls > calls else {}
    row = Row(
        "server",
        task.index,
        task.task_id,
        task.line_no,
        task.middle,
        got,
        exact_match(got, task.middle),
        None,
        round(latency, 1),
        last.get("promptTokens"),
        last.get("evaluatedTokens"),
        mode or last.get("mode", "no model call"),
    )
    return row, new_calls


class ServerRunner:
    """One server process over LSP, one task at a time, so several runs can interleave (the
    current tree, a baseline commit's tree, other settings) on the same machine state."""

    def __init__(
        self,
        name: str,
        options: dict[str, Any],
        log: Path,
        timeout: float,
        verbose: bool,
        cwd: Path = REPO,
    ) -> None:
        self.name, self.timeout, self.verbose = name, timeout, verbose
        self.rows: list[Row] = []
        self.info: dict = {}
        command = [*SERVER_CMD, "--log-level", "INFO"]  # per-request stats land in the log
        self.client = LspClient(command, init_options=options, stderr_log=log, cwd=cwd)

    def __enter__(self) -> ServerRunner:
        self.client.__enter__()
        self.client.initialize()
        started = time.perf_counter()
        status = self.client.wait_ready()
        print(
            f"[{self.name}] ready in {time.perf_counter() - started:.1f} s: {status.get('model')}",
            file=sys.stderr,
            flush=True,
        )
        self.calls = status.get("totals", {}).get("modelCalls", 0)
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            final = self.client.status()
            self.info = {
                "model": final.get("model"),
                "settings": final.get("settings"),
                "totals": final.get("totals"),
                "shown": self.client.shown,
            }
        finally:
            self.client.__exit__(*exc)

    def run(self, task: InfillTask, total: int) -> None:
        row, self.calls = _server_task(self.client, task, self.calls, self.timeout)
        row.run = self.name
        self.rows.append(row)
        if self.verbose:
            print(
                f"  [{self.name}] {row.task_id} line {row.line} {row.latency_ms:.0f} ms "
                f"{row.mode} em={row.em} got={first_line(row.got)!r}",
                file=sys.stderr,
                flush=True,
            )
        recent = self.rows[-MAX_CONSECUTIVE_TIMEOUTS:]
        if len(recent) == MAX_CONSECUTIVE_TIMEOUTS and all(r.mode == "timeout" for r in recent):
            raise SystemExit(
                f"{MAX_CONSECUTIVE_TIMEOUTS} requests in a row got no answer within "
                f"{self.timeout:.0f} s; server log tail:\n{self.client.stderr_tail()}"
            )
        _progress(self.name, self.rows, total)


# -- the raw baseline -----------------------------------------------------------------------
class RawRunner:
    """The naive baseline, one task at a time, so it can interleave with the server run."""

    name = "raw"

    def __init__(self, model_path: str | None, options: dict[str, Any]) -> None:
        from benchmarks.raw_fim import RawFim, default_model_path, threads_default

        self.path = model_path or default_model_path()
        self.threads = int(options.get("nThreads") or 0) or threads_default()
        started = time.perf_counter()
        self.raw = RawFim(
            self.path,
            n_threads=self.threads,
            n_ctx=int(options.get("contextSize", 4096)),
            n_gpu_layers=int(options.get("nGpuLayers", 0)),
        )
        print(
            f"[raw] loaded {self.path} in {time.perf_counter() - started:.1f} s "
            f"({self.threads} threads)",
            file=sys.stderr,
            flush=True,
        )
        self.rows: list[Row] = []
        self.info = {"model": {"path": self.path}, "threads": self.threads}

    def run(self, task: InfillTask, total: int) -> None:
        result = self.raw.complete(task.prefix, task.suffix)
        self.rows.append(
            Row(
                "raw",
                task.index,
                task.task_id,
                task.line_no,
                task.middle,
                result.text,
                exact_match(result.text, task.middle),
                None,
                round(result.latency_ms, 1),
                result.prompt_tokens,
                result.prompt_tokens,
                "raw",
            )
        )
        _progress("raw", self.rows, total)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.b1_humaneval_infill", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--full", action="store_true", help="all 1,033 tasks (default: 207)")
    parser.add_argument("--limit", type=int, default=0, help="only the first N tasks of the set")
    parser.add_argument("--json", type=Path, help="write one JSON line per task here")
    parser.add_argument("--model", help="GGUF path (default: the embedded model)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="server setting (camelCase), e.g. --set prefixTokens=1000",
    )
    parser.add_argument(
        "--baseline-raw",
        action="store_true",
        help="also run the naive raw-model baseline (no server) in this run",
    )
    parser.add_argument("--raw-only", action="store_true", help="only the raw-model baseline")
    parser.add_argument(
        "--versus-rev",
        metavar="COMMIT",
        help="also run the server of COMMIT (a git worktree under benchmarks/.cache), same run",
    )
    parser.add_argument(
        "--versus-set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="also run a second server with these settings on top, same run (repeatable)",
    )
    parser.add_argument(
        "--log",
        type=Path,
        default=None,
        help="server stderr log (default: next to --json as NAME.server.log, else "
        "benchmarks/results/b1-server.log)",
    )
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="seconds per request (default: %(default)s)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="one stderr line per task")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)

    tasks = list(all_tasks() if args.full else quick_tasks())
    if args.limit > 0:
        tasks = tasks[: args.limit]
    # Prefetch off unless asked for: B1 scores single requests, and a prefetch left running in
    # the background would take the CPU from the raw baseline's turn (and, through the time
    # cap, from the next task's answer), which no user pausing between edits sees.
    options = {"prefetch": False, **parse_sets(args.set)}
    if args.model:
        options["modelPath"] = args.model
    by_index = {t.index: t for t in tasks}
    load_start = os.getloadavg()
    log = args.log or (
        args.json.with_suffix(".server.log") if args.json else RESULTS / "b1-server.log"
    )
    runners: list = []
    with ExitStack() as stack:
        if not args.raw_only:
            runners.append(
                stack.enter_context(
                    ServerRunner("server", options, log, args.timeout, args.verbose)
                )
            )
        if args.versus_rev:
            runners.append(
                stack.enter_context(
                    ServerRunner(
                        f"server@{args.versus_rev}",
                        options,
                        log.with_name(log.stem + ".versus-rev.log"),
                        args.timeout,
                        args.verbose,
                        cwd=worktree(args.versus_rev),
                    )
                )
            )
        if args.versus_set:
            runners.append(
                stack.enter_context(
                    ServerRunner(
                        "server " + " ".join(args.versus_set),
                        {**options, **parse_sets(args.versus_set)},
                        log.with_name(log.stem + ".versus-set.log"),
                        args.timeout,
                        args.verbose,
                    )
                )
            )
        if args.baseline_raw or args.raw_only:
            runners.append(RawRunner(args.model, options))
        # The runs alternate task by task (never at the same time), so a change in machine
        # load hits all of them the same way.
        for task in tasks:
            for runner in runners:
                runner.run(task, len(tasks))
    runs: list[tuple[str, list[Row], dict]] = [
        (
            "infill-lsp server (LSP)" if r.name == "server" else (
                "raw naive PSM (this run)" if r.name == "raw" else r.name
            ),
            r.rows,
            r.info,
        )
        for r in runners
    ]  # fmt: skip
    print(
        f"scoring pass@1 for {sum(len(r) for _, r, _ in runs)} completions...",
        file=sys.stderr,
        flush=True,
    )
    for _, rows, _ in runs:
        score(rows, by_index)

    summaries = [summarize(name, rows) for name, rows, _ in runs]
    load = os.getloadavg()  # latency is only comparable between runs on an equally idle machine
    print(
        f"machine: {os.cpu_count()} CPUs, load average at start {load_start[0]:.2f}, "
        f"at end {load[0]:.2f} (1 min)",
        file=sys.stderr,
    )
    set_name = "full set" if args.full else "quick set (every 5th task)"
    print_table(
        f"B1 HumanEval single-line infilling, {set_name}, {len(tasks)} tasks; cursor "
        "after the masked line's indentation; latency client side",
        summaries,
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        with open(args.json, "w", encoding="utf-8") as fh:
            for _, rows, _ in runs:
                for row in rows:
                    fh.write(json.dumps(asdict(row)) + "\n")
        summary_path = args.json.with_suffix(".summary.json")
        meta = {
            "argv": sys.argv[1:],
            "cpuCount": os.cpu_count(),
            "loadAvgStart": load_start,
            "loadAvgEnd": load,
            "runs": [dict(s, info=info) for s, (_, _, info) in zip(summaries, runs, strict=True)],
        }
        summary_path.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json} and {summary_path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
