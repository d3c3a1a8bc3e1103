"""B1 lab: chosen B1 tasks through the server's ``Completer`` in-process, variants alternating.

Why: a filter or decode change alters only the tasks where it fires; measuring those tasks
before/after (in one process, same model state, task by task alternating) costs a minute, where
the full over-LSP B1 costs 25. This is a lab, not the benchmark: the claims in README come from
``b1_humaneval_infill``; the lab says where a change fires and what it does there.

    python -m benchmarks.b1_lab --tasks-from benchmarks/results/b1-full-0.5b.jsonl \\
        --where later_sibling --variants before,current

``--where`` picks the tasks from a B1 results file by a predicate on its rows (see WHERE). That
file is a B1 ``--json`` run made locally: ``benchmarks/results/`` is ignored by git, so a fresh
checkout has none (make it first with ``python -m benchmarks.b1_humaneval_infill --full --json
benchmarks/results/b1-full-0.5b.jsonl``, ~25 min on 2 cores);
``--tasks`` takes indexes. A variant is the current tree with one change switched off
(VARIANTS): "current" runs as is.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from benchmarks.common import lab_settings, median
from benchmarks.humaneval_tasks import InfillTask, all_tasks, exact_match, first_line, passes


@contextlib.contextmanager
def _no_later_sibling() -> Iterator[None]:
    from lsp_server.postprocess import suffix_repeat

    original = suffix_repeat.repeats_later_sibling
    suffix_repeat.repeats_later_sibling = lambda text, ctx: False  # type: ignore[assignment]
    try:
        yield
    finally:
        suffix_repeat.repeats_later_sibling = original


@contextlib.contextmanager
def _nothing() -> Iterator[None]:
    yield


# name -> context manager that switches a change off for the duration of one request
VARIANTS: dict[str, Callable[[], contextlib.AbstractContextManager[None]]] = {
    "current": _nothing,
    "before": _no_later_sibling,  # suffix_repeat without the later-sibling check
}


def _later_sibling(row: dict, task: InfillTask) -> bool:
    from lsp_server.context.types import Context, Mode
    from lsp_server.postprocess.suffix_repeat import repeats_later_sibling

    ctx = Context(task.prefix + task.indent, "\n" + task.suffix, "python", Mode.MULTI_LINE)
    return bool(row["got"]) and repeats_later_sibling(row["got"], ctx)


# name -> predicate on (a B1 results row, its task)
WHERE: dict[str, Callable[[dict, InfillTask], bool]] = {
    "all": lambda row, task: True,
    "miss": lambda row, task: not row["em"],
    "empty": lambda row, task: not row["got"],
    "later_sibling": _later_sibling,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.b1_lab")
    parser.add_argument("--tasks", default="", help="comma-separated task indexes (0..1032)")
    parser.add_argument(
        "--tasks-from", type=Path, help="a B1 --json results file (a run made locally)"
    )
    parser.add_argument("--where", default="all", choices=sorted(WHERE))
    parser.add_argument("--variants", default="before,current")
    parser.add_argument("--model", default="", help="GGUF path or 0.5b/1.5b")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--verbose", action="store_true", help="the filters' drops on stderr")
    args = parser.parse_args(argv)
    if args.verbose:
        logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s", stream=sys.stderr)

    from lsp_server.completion import Completer
    from lsp_server.context.anchor import AnchorMemory
    from lsp_server.context.types import Snapshot
    from lsp_server.engine.base import CancelToken
    from lsp_server.loader import load_engine
    from lsp_server.syntax.incremental import DocumentTrees

    by_index = {t.index: t for t in all_tasks()}
    chosen: list[InfillTask] = []
    if args.tasks:
        chosen = [by_index[int(i)] for i in args.tasks.split(",")]
    elif args.tasks_from:
        if not args.tasks_from.is_file():
            print(
                f"{args.tasks_from}: no such file. --tasks-from reads a B1 --json run made locally "
                "(benchmarks/results/ is not in git); make one with: python -m "
                f"benchmarks.b1_humaneval_infill --full --json {args.tasks_from}",
                file=sys.stderr,
            )
            return 2
        with args.tasks_from.open() as fh:
            rows = [json.loads(line) for line in fh]
        chosen = [
            by_index[r["index"]]
            for r in rows
            if r.get("run") == "server" and WHERE[args.where](r, by_index[r["index"]])
        ]
    if not chosen:
        print("no tasks chosen", file=sys.stderr)
        return 2
    settings = lab_settings({"prefetch": False}, args.model)
    completer = Completer(load_engine(settings).engine, DocumentTrees())  # as the server's
    anchors = AnchorMemory()  # as the server keeps them, per document
    variants = args.variants.split(",")
    results: dict[str, list[dict]] = {v: [] for v in variants}
    out = args.json.open("w") if args.json else None
    for n, task in enumerate(chosen, 1):
        line, character = task.cursor
        text = task.document
        offset = sum(len(x) + 1 for x in text.split("\n")[:line]) + character
        for variant in variants:
            path = f"/infill-b1-lab/{variant}/{task.task_id.replace('/', '_')}_{task.line_no}.py"
            started = time.perf_counter()
            with VARIANTS[variant]():
                anchor = anchors.anchor(path, text, offset)
                snapshot = Snapshot(text, offset, "python", path, anchor)
                result = completer.complete(snapshot, CancelToken(), settings)
            ms = (time.perf_counter() - started) * 1000
            got = result.text
            row = {
                "variant": variant,
                "index": task.index,
                "task_id": task.task_id,
                "expected": task.middle,
                "got": got,
                "em": exact_match(got, task.middle),
                "passed": passes(task, got),
                "latency_ms": round(ms, 1),
            }
            results[variant].append(row)
            if out is not None:
                out.write(json.dumps(row) + "\n")
                out.flush()
        em = ", ".join(f"{v} {sum(r['em'] for r in results[v])}" for v in variants)
        print(f"[b1-lab] {n}/{len(chosen)} exact: {em}", file=sys.stderr, flush=True)
    print(f"{'variant':10} {'EM':>9} {'pass@1':>9} {'empty':>6} {'p50 ms':>8}")
    for variant, got in results.items():
        em = sum(r["em"] for r in got)
        ok = sum(r["passed"] for r in got)
        empty = sum(1 for r in got if not first_line(r["got"]).strip())
        p50 = median([r["latency_ms"] for r in got])
        print(f"{variant:10} {em:>4}/{len(got):<4} {ok:>4}/{len(got):<4} {empty:>6} {p50:>8.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
