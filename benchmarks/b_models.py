"""Which model should serve: B1 (quality), B2 (latency at one spot) and B6 (after a jump) for
the embedded 0.5B, the 1.5B, and the 1.5B with speculative decoding, in ONE run (issue "speed",
item 3). Each configuration is a set of server settings; each benchmark is the real one
(``benchmarks.b1_humaneval_infill``, ``b2_typing_replay``, ``b6_navigation``) run as a
subprocess with those settings, one after the other on an otherwise idle machine.

    python -m benchmarks.b_models                          # all configurations, B1 quick + B2 + B6
    python -m benchmarks.b_models --configs 0.5b,1.5b --only b2,b6
    python -m benchmarks.b_models --table                  # print the table from the last run

Full output under ``benchmarks/results/models-*``; the table is printed (and written to
``benchmarks/results/models-table.txt``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import RESULTS

CONFIGS: dict[str, dict[str, str]] = {
    "0.5b": {"model": "0.5b", "speculation": "off"},
    "1.5b": {"model": "1.5b", "speculation": "off"},
    "1.5b+lookup": {"model": "1.5b", "speculation": "lookup"},
    "1.5b+draft": {"model": "1.5b", "speculation": "draft"},
}
DEFAULT_CONFIGS = "0.5b,1.5b,1.5b+lookup"
BENCHES = {
    "b1": ["benchmarks.b1_humaneval_infill"],
    "b2": ["benchmarks.b2_typing_replay", "--only-ours"],
    "b6": ["benchmarks.b6_navigation", "--no-peer"],
}


def output(label: str, bench: str) -> Path:
    return RESULTS / f"models-{label}-{bench}.jsonl"


def run(label: str, bench: str, extra: list[str]) -> float:
    sets = [arg for key, value in CONFIGS[label].items() for arg in ("--set", f"{key}={value}")]
    module, *flags = BENCHES[bench]
    command = [sys.executable, "-m", module, *flags, *sets, *extra]
    command += ["--json", str(output(label, bench))]
    print(f"[{label} {bench}] {' '.join(command[1:])}", file=sys.stderr, flush=True)
    started = time.monotonic()
    with open(output(label, bench).with_suffix(".out"), "w", encoding="utf-8") as out:
        proc = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, check=False)
    if proc.returncode != 0:
        print(f"[{label} {bench}] exit {proc.returncode}: see {out.name}", file=sys.stderr)
    return time.monotonic() - started


def _summary(label: str, bench: str) -> dict | None:
    path = output(label, bench).with_suffix(".summary.json")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def row(label: str) -> list[str]:
    cells = [label]
    b1 = _summary(label, "b1")
    ours = next(
        (r for r in (b1 or {}).get("runs", []) if r.get("run", "").startswith("infill")), None
    )
    if ours:
        cells += [f"{ours['emPct']:.1f}", f"{ours['passPct']:.1f}", f"{ours['p50Ms']:.0f}"]
    else:
        cells += ["-"] * 3
    b2 = _summary(label, "b2")
    first = (b2 or {}).get("summaries", [None])[0]
    if first:
        cells += [f"{first['p50Ms']:.0f}", f"{first['p95Ms']:.0f}", str(first["charsSaved"])]
    else:
        cells += ["-"] * 3
    b6 = {s["behaviour"]: s for s in (_summary(label, "b6") or {}).get("summaries", [])}
    for behaviour in ("a", "b"):
        s = b6.get(behaviour)
        cells += [f"{s['firstP50Ms']:.0f}/{s['firstP95Ms']:.0f}" if s else "-"]
    s = b6.get("a")
    cells += [f"{s['keyP95Ms']:.0f}" if s else "-", f"{s['charsRightMean']:.1f}" if s else "-"]
    cells += [str(s["rssPeakMb"]) if s else "-"]
    return cells


HEAD = [
    "config",
    "B1 EM%",
    "pass@1%",
    "p50 ms",
    "B2 p50",
    "B2 p95",
    "saved",
    "B6 a first p50/p95",
    "B6 b first p50/p95",
    "B6 key p95",
    "chars right",
    "RSS MB",
]


def table(labels: list[str]) -> str:
    rows = [HEAD, *(row(label) for label in labels)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEAD))]
    lines = [
        "  ".join(
            c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in rows
    ]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", default=DEFAULT_CONFIGS, help="of: " + ", ".join(CONFIGS))
    parser.add_argument("--only", default=",".join(BENCHES), help="benchmarks: b1,b2,b6")
    parser.add_argument("--b1-limit", type=int, default=0, help="B1: only the first N tasks")
    parser.add_argument("--table", action="store_true", help="only print the last run's table")
    args = parser.parse_args(argv)
    labels = [c for c in args.configs.split(",") if c]
    unknown = [c for c in labels if c not in CONFIGS]
    if unknown:
        raise SystemExit(f"unknown configurations: {unknown}; known: {list(CONFIGS)}")
    if not args.table:
        RESULTS.mkdir(parents=True, exist_ok=True)
        load = os.getloadavg()[0]
        print(f"load average at the start: {load:.2f} on {os.cpu_count()} CPUs", file=sys.stderr)
        for bench in [b for b in args.only.split(",") if b]:
            for label in labels:
                extra = ["--limit", str(args.b1_limit)] if bench == "b1" and args.b1_limit else []
                took = run(label, bench, extra)
                print(f"[{label} {bench}] {took:.0f} s", file=sys.stderr, flush=True)
    text = table(labels)
    print(text)
    (RESULTS / "models-table.txt").write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
