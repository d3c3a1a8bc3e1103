"""B1 scoring and reporting: pass@1 for every completion, the summary numbers, the table.

Kept apart from the driver so the numbers can be recomputed from a ``--json`` file without a
model (``Row(**json.loads(line))``), and so the driver stays about driving.
"""

from __future__ import annotations

import os
import statistics
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from benchmarks.common import median, p95
from benchmarks.humaneval_tasks import InfillTask, filled_line, first_line, passes

REFERENCE_RAW = ("raw naive PSM (BENCHMARKS.md ref.)", 80, 207)  # 38.6% EM, reference machine


@dataclass
class Row:
    """One task's outcome; written as one JSON line with --json."""

    run: str
    index: int
    task_id: str
    line: int  # 0-based line of the masked line in the canonical solution
    expected: str
    got: str  # the completion as returned (server insert text / raw first line)
    em: bool
    passed: bool | None  # None until scored
    latency_ms: float
    prompt_tokens: int | None
    evaluated_tokens: int | None
    mode: str | None


def score(rows: list[Row], tasks: dict[int, InfillTask]) -> None:
    """pass@1 for every row, in parallel, AFTER the timed model work (no CPU contention)."""

    def one(row: Row) -> bool:
        task = tasks[row.index]
        if row.em and filled_line(task, row.got, after_indent=row.run != "raw") == task.middle:
            return True  # the canonical line itself: known to pass (tests check it)
        return passes(task, row.got, after_indent=row.run != "raw")

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        for row, ok in zip(rows, pool.map(one, rows), strict=True):
            row.passed = ok


def summarize(name: str, rows: list[Row]) -> dict[str, Any]:
    n = len(rows)
    latencies = [r.latency_ms for r in rows]
    modes: dict[str, int] = {}
    for r in rows:
        modes[r.mode or "?"] = modes.get(r.mode or "?", 0) + 1
    return {
        "run": name,
        "tasks": n,
        "em": sum(r.em for r in rows),
        "emPct": round(100 * sum(r.em for r in rows) / n, 1) if n else 0.0,
        "passPct": round(100 * sum(bool(r.passed) for r in rows) / n, 1) if n else 0.0,
        "noSuggestion": sum(not first_line(r.got).strip() for r in rows),
        "timeouts": modes.get("timeout", 0),
        "p50Ms": round(statistics.median(latencies), 0) if n else None,
        "p95Ms": round(p95(latencies), 0) if n else None,
        "medianPromptTokens": median([r.prompt_tokens for r in rows]),
        "medianEvaluatedTokens": median([r.evaluated_tokens for r in rows]),
        "modes": modes,
    }


def _cell(value: Any, fmt: str = "{:.0f}") -> str:
    return "-" if value is None else fmt.format(value)


def print_table(title: str, summaries: list[dict[str, Any]]) -> None:
    head = (
        f"{'run':36} {'tasks':>5} {'EM':>13} {'pass@1':>7} {'no-sugg':>7} "
        f"{'p50 ms':>7} {'p95 ms':>7} {'prompt tok':>10} {'eval tok':>8}"
    )
    print(title)
    print(head)
    print("-" * len(head))
    for s in summaries:
        em = f"{s['em']} ({s['emPct']:.1f}%)"
        print(
            f"{s['run']:36} {s['tasks']:>5} {em:>13} {_cell(s['passPct'], '{:.1f}%'):>7} "
            f"{_cell(s['noSuggestion']):>7} {_cell(s['p50Ms']):>7} {_cell(s['p95Ms']):>7} "
            f"{_cell(s['medianPromptTokens']):>10} {_cell(s['medianEvaluatedTokens']):>8}"
        )
    name, em, n = REFERENCE_RAW
    print(
        f"{name:36} {n:>5} {f'{em} ({100 * em / n:.1f}%)':>13} {'-':>7} {'-':>7} {'-':>7} "
        f"{'-':>7} {'-':>10} {'-':>8}"
    )
    for s in summaries:
        print(f"modes ({s['run']}): {s['modes']}")
