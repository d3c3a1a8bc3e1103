"""B3 — "Fix this function" over LSP, exactly as an editor drives it.

    python -m benchmarks.b3_fix                       # seed-0 mutants, both variants
    python -m benchmarks.b3_fix --limit 40 --model ~/.cache/infill-lsp/qwen2.5-coder-1.5b...

For each seeded mutant (``benchmarks.b3_mutants``: one bug per HumanEval problem, parses, fails
its tests): didOpen the buggy file, ``textDocument/codeAction`` at the changed line, pick "Fix
this function", ``codeAction/resolve``, apply the returned WorkspaceEdit, then run the problem's
tests on the result. Counted: fixed (tests pass), syntax-broken edits (the edited file does not
compile; must be 0), no edit, latency of the resolve (client side), and from ``infill/status``
whether docstring examples were available as evidence and whether the offered fix passed them.

Variants, alternating mutant by mutant in ONE server (settings switched with
didChangeConfiguration, so machine load hits both alike):
- ``plain``: the fix-function baseline: no execution evidence, one greedy answer (plus the one
  stricter retry when it is rejected);
- ``evidence``: the defaults: docstring examples run first and shown to the model, several
  candidates verified against them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.b3_mutants import Mutant, cache_path, generate, program_with_tests
from benchmarks.common import RESULTS, median, p95, parse_sets
from benchmarks.humaneval_tasks import run_program
from benchmarks.lsp_client import SERVER_CMD, LspClient, apply_edits
from lsp_server.settings import Settings, to_wire

# Every key a variant changes is set by every variant: settings sent with didChangeConfiguration
# merge into the server's current ones, so a variant must not inherit the previous one's.
_DEFAULTS = to_wire(Settings())
VARIANTS: dict[str, dict[str, Any]] = {
    "plain": {"fixRunExamples": False, "fixCandidates": 1},
    "evidence": {
        "fixRunExamples": _DEFAULTS["fixRunExamples"],
        "fixCandidates": _DEFAULTS["fixCandidates"],
    },
}


@dataclass
class Row:
    variant: str
    task_id: str
    kind: str
    outcome: str  # fixed | wrong | no-edit | syntax-broken | no-action | error
    latency_ms: float
    examples: int
    verified: bool
    message: str


def _fix_once(client: LspClient, mutant: Mutant, variant: str, timeout: float) -> Row:
    uri = f"file:///infill-b3/{variant}/{mutant.task_id.replace('/', '_')}.py"
    client.open(uri, mutant.buggy)
    doc = {"textDocument": {"uri": uri}}
    where = {"line": mutant.line, "character": 0}
    params = {**doc, "range": {"start": where, "end": where}, "context": {"diagnostics": []}}

    def row(outcome: str, ms: float = 0.0, info: dict | None = None) -> Row:
        info = info or {}
        return Row(
            variant,
            mutant.task_id,
            mutant.kind,
            outcome,
            round(ms, 1),
            int(info.get("checks") or 0),
            bool(info.get("verified")),
            str(info.get("message", "")),
        )

    try:
        actions = client.request("textDocument/codeAction", params, 30) or []
        action = next((a for a in actions if a.get("title") == "Fix this function"), None)
        if action is None:
            return row("no-action")
        started = time.perf_counter()
        resolved = client.request("codeAction/resolve", action, timeout)
        ms = (time.perf_counter() - started) * 1000
        info = client.status().get("lastFix") or {}
        edit = resolved.get("edit")
        if not edit:
            return row("no-edit", ms, info)
        (change,) = edit["documentChanges"]
        fixed = apply_edits(mutant.buggy, change["edits"])
        try:
            compile(fixed, "<b3>", "exec", dont_inherit=True)
        except SyntaxError:
            return row("syntax-broken", ms, info)
        ok = run_program(program_with_tests(mutant.problem, fixed))
        return row("fixed" if ok else "wrong", ms, info)
    except Exception as exc:  # one bad case is a row, not the end of the run
        print(f"[{variant}] {mutant.task_id}: {exc}", file=sys.stderr)
        return row("error", 0.0, {"message": str(exc)})
    finally:
        client.close(uri)


def summarize(variant: str, rows: list[Row]) -> dict[str, Any]:
    n = len(rows)
    counts = Counter(r.outcome for r in rows)
    answered = [r.latency_ms for r in rows if r.outcome not in ("no-action", "error")]
    return {
        "variant": variant,
        "mutants": n,
        "fixed": counts["fixed"],
        "fixedPct": 100 * counts["fixed"] / n if n else 0.0,
        "syntaxBroken": counts["syntax-broken"],
        "noEdit": counts["no-edit"],
        "noEditPct": 100 * counts["no-edit"] / n if n else 0.0,
        "wrong": counts["wrong"],
        "errors": counts["error"] + counts["no-action"],
        "evidencePct": 100 * sum(r.examples > 0 for r in rows) / n if n else 0.0,
        "verifiedPct": 100 * sum(r.verified for r in rows) / n if n else 0.0,
        "p50Ms": median(answered),
        "p95Ms": p95(answered) if answered else None,
        "fixedByKind": dict(Counter(r.kind for r in rows if r.outcome == "fixed")),
    }


def print_table(title: str, summaries: list[dict[str, Any]]) -> None:
    head = (
        f"{'variant':10} {'mutants':>7} {'fixed':>13} {'syntax-broken':>13} {'no edit':>13} "
        f"{'evidence':>8} {'verified':>8} {'p50 ms':>7} {'p95 ms':>7}"
    )
    print(title)
    print(head)
    print("-" * len(head))
    for s in summaries:
        print(
            f"{s['variant']:10} {s['mutants']:>7} {s['fixed']:>4} ({s['fixedPct']:5.1f}%) "
            f"{s['syntaxBroken']:>13} {s['noEdit']:>4} ({s['noEditPct']:5.1f}%) "
            f"{s['evidencePct']:>7.0f}% {s['verifiedPct']:>7.0f}% "
            f"{s['p50Ms'] or 0:>7.0f} {s['p95Ms'] or 0:>7.0f}"
        )
    for s in summaries:
        print(f"fixed by kind ({s['variant']}): {s['fixedByKind']}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.b3_fix", description=__doc__)
    parser.add_argument("--seed", type=int, default=0, help="mutant generator seed")
    parser.add_argument("--limit", type=int, default=0, help="only the first N mutants")
    parser.add_argument(
        "--every", type=int, default=1, help="every K-th mutant: a spread sample (default 1)"
    )
    parser.add_argument("--variants", default="plain,evidence", help="comma-separated")
    parser.add_argument("--model", help="GGUF path (default: the embedded model)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per resolve")
    parser.add_argument("--json", type=Path, help="write one JSON line per fix here")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    variants = [v for v in args.variants.split(",") if v]
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        raise SystemExit(f"unknown variants: {sorted(unknown)}; known: {sorted(VARIANTS)}")
    mutants = generate(args.seed, cache=cache_path(args.seed))
    mutants = mutants[:: max(1, args.every)]
    if args.limit:
        mutants = mutants[: args.limit]
    options = parse_sets(args.set)
    if args.model:
        options["modelPath"] = args.model
    rows: dict[str, list[Row]] = {v: [] for v in variants}
    load_start = os.getloadavg()
    log = RESULTS / "b3-server.log"
    with LspClient(
        [*SERVER_CMD, "--log-level", "INFO"], init_options=options, stderr_log=log
    ) as client:
        client.initialize()
        ready = client.wait_ready()
        print(f"[b3] ready: {ready.get('model')}", file=sys.stderr, flush=True)
        for i, mutant in enumerate(mutants, 1):
            for variant in variants:
                settings = {**options, **VARIANTS[variant]}
                client.notify("workspace/didChangeConfiguration", {"settings": settings})
                rows[variant].append(_fix_once(client, mutant, variant, args.timeout))
            if i % 10 == 0 or i == len(mutants):
                line = ", ".join(
                    f"{v} {sum(r.outcome == 'fixed' for r in rows[v])}" for v in variants
                )
                print(f"[b3] {i}/{len(mutants)} fixed: {line}", file=sys.stderr, flush=True)
    summaries = [summarize(v, rows[v]) for v in variants]
    load = os.getloadavg()
    print(
        f"machine: {os.cpu_count()} CPUs, load average at start {load_start[0]:.2f}, "
        f"at end {load[0]:.2f}; model {ready.get('model', {}).get('path')}",
        file=sys.stderr,
    )
    sample = f", every {args.every}th" if args.every > 1 else ""
    print_table(
        f"B3 fix this function, seed {args.seed}{sample}, {len(mutants)} mutants", summaries
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        with open(args.json, "w", encoding="utf-8") as fh:
            for variant in variants:
                for r in rows[variant]:
                    fh.write(json.dumps(asdict(r)) + "\n")
        with open(args.json.with_suffix(".summary.json"), "w", encoding="utf-8") as fh:
            json.dump({"argv": sys.argv[1:], "summaries": summaries}, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
