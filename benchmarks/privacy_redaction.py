"""Privacy redaction: per-kind precision and recall on the corpus, and throughput.

    python -m benchmarks.privacy_redaction                 # table on stdout and in results/
    python -m benchmarks.privacy_redaction --runs 9 --out benchmarks/results/privacy-table.txt

Quality: every case of ``tests/privacy/corpus`` (positives and negatives, the ``known:``
limitation cases included). Per kind, an expected finding is a true positive when a finding of
the same kind overlaps its span (one-to-one), else a false negative; a finding that matches no
expected one of its kind is a false positive.

Speed: a ~1 MB realistic text built from this repository's own sources (the privacy corpus
excluded) with a secret injected every ~8 KB (snippets of the positive cases); ``redact`` over it,
median of ``--runs`` runs, in MB/s (MB = 10^6 characters), wall-clock and CPU time (CPU time is
the steadier number on a loaded machine), plus the per-detector split and the latency on a
prompt-sized text (6 KB prefix + 2 KB suffix). Single-threaded, pure Python.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

from benchmarks.common import REPO, RESULTS
from lsp_server.privacy import KINDS, redact
from lsp_server.privacy.detectors import DETECTORS
from tests.privacy.cases import Case, load_cases

SOURCE_GLOBS = ("lsp_server/**/*.py", "tests/**/*.py", "benchmarks/*.py", "*.md", "examples/**/*")


def score(cases: list[Case]) -> tuple[dict[str, Counter[str]], list[str]]:
    """Per kind TP/FP/FN; and one line per case the redactor gets wrong."""
    counts: dict[str, Counter[str]] = {kind: Counter() for kind in KINDS}
    wrong: list[str] = []
    for case in cases:
        expected = case.expected_spans()
        found = [(f.kind, f.start, f.end) for f in redact(case.text).findings]
        used: set[int] = set()
        misses = extras = 0
        for kind, start, end in expected:
            match = next(
                (
                    i
                    for i, (k, s, e) in enumerate(found)
                    if i not in used and k == kind and s < end and start < e
                ),
                None,
            )
            if match is None:
                counts[kind]["fn"] += 1
                misses += 1
            else:
                used.add(match)
                counts[kind]["tp"] += 1
        for i, (kind, _, _) in enumerate(found):
            if i not in used:
                counts[kind]["fp"] += 1
                extras += 1
        if misses or extras:
            note = f"  (known: {case.known})" if case.known else ""
            wrong.append(f"{case.id}: {misses} missed, {extras} extra{note}")
    return counts, wrong


def realistic_text(
    cases: list[Case], size: int = 1_000_000
) -> tuple[str, list[tuple[str, int, int]]]:
    """This repository's sources with a positive case's text every ~8 KB; and the (kind, start,
    end) spans those injected cases expect. Cases about a window's edges are left out."""
    skip = ("tests/privacy/", "lsp_server/privacy/")
    files = sorted(
        p
        for pattern in SOURCE_GLOBS
        for p in REPO.glob(pattern)
        if p.is_file() and not any(s in p.as_posix() for s in skip)
    )
    sources = [p.read_text(encoding="utf-8", errors="replace") for p in files]
    snippets = [c for c in cases if c.positive and not c.known and "window" not in c.id]
    parts: list[str] = []
    expected: list[tuple[str, int, int]] = []
    length = since = 0
    while True:
        for source in sources:
            for line in source.splitlines(keepends=True):
                parts.append(line)
                length += len(line)
                since += len(line)
                if since >= 8_000:
                    case = snippets[len(expected) % len(snippets)]
                    expected += [(k, length + s, length + e) for k, s, e in case.expected_spans()]
                    parts.append(case.text)
                    length += len(case.text)
                    since = 0
                if length >= size:
                    return "".join(parts), expected


def timed(fn, arg, runs: int) -> tuple[float, float]:
    """Median wall-clock and median CPU (process) seconds of ``runs`` calls."""
    wall, cpu = [], []
    for _ in range(runs):
        w, c = time.perf_counter(), time.process_time()
        fn(arg)
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    return statistics.median(wall), statistics.median(cpu)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs per measure (median)")
    parser.add_argument("--out", type=Path, default=RESULTS / "privacy-table.txt")
    args = parser.parse_args(argv)

    cases = load_cases()
    counts, wrong = score(cases)
    positives = [c for c in cases if c.positive]
    negatives = [c for c in cases if not c.positive]
    lines = [
        "Privacy redaction (lsp_server.privacy.redact)",
        f"corpus: {len(positives)} positive cases, {len(negatives)} negative cases "
        f"({sum(bool(c.known) for c in cases)} of them documented limitations)",
        "",
        f"{'kind':<12} {'expected':>8} {'TP':>5} {'FP':>5} {'FN':>5} "
        f"{'precision':>10} {'recall':>8}",
    ]
    total: Counter[str] = Counter()
    for kind in KINDS:
        c = counts[kind]
        total.update(c)
        lines.append(_row(kind, c))
    lines.append(_row("all", total))
    clean = sum(1 for c in negatives if not redact(c.text).findings)
    lines += [
        "",
        f"negative cases left unchanged: {clean}/{len(negatives)}",
        "cases with a miss or an extra finding:",
        *(f"  {w}" for w in wrong),
    ]

    text, injected = realistic_text(cases)
    result = redact(text)
    covered = sum(
        any(f.kind == k and f.start < e and s < f.end for f in result.findings)
        for k, s, e in injected
    )
    wall_s, cpu_s = timed(redact, text, args.runs)
    prompt = text[:6_000] + text[500_000:502_000]
    prompt_wall, prompt_cpu = timed(redact, prompt, args.runs * 40)
    per_detector = {
        d.__name__.lstrip("_"): timed(lambda t, d=d: list(d(t)), text, args.runs)[1]
        for d in DETECTORS
    }
    mb = len(text) / 1e6
    lines += [
        "",
        f"throughput: {mb:.2f} MB of this repository's sources with {len(injected)} injected "
        f"secrets, median of {args.runs} runs: {wall_s * 1000:.0f} ms wall "
        f"({mb / wall_s:.1f} MB/s), {cpu_s * 1000:.0f} ms CPU ({mb / cpu_s:.1f} MB/s)",
        f"  injected secrets redacted: {covered}/{len(injected)}; findings in all: "
        f"{len(result.findings)}",
        f"prompt-sized text (8 KB): {prompt_wall * 1000:.2f} ms wall, "
        f"{prompt_cpu * 1000:.2f} ms CPU (median of {args.runs * 40})",
        "per detector (ms CPU on the 1 MB text): "
        + ", ".join(f"{name} {s * 1000:.0f}" for name, s in per_detector.items()),
        f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}; "
        f"python {sys.version.split()[0]}",
    ]
    table = "\n".join(lines) + "\n"
    print(table, end="")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(table, encoding="utf-8")
    return 0


def _row(kind: str, c: Counter[str]) -> str:
    tp, fp, fn = c["tp"], c["fp"], c["fn"]
    precision = f"{tp / (tp + fp):.3f}" if tp + fp else "-"
    recall = f"{tp / (tp + fn):.3f}" if tp + fn else "-"
    return f"{kind:<12} {tp + fn:>8} {tp:>5} {fp:>5} {fn:>5} {precision:>10} {recall:>8}"


if __name__ == "__main__":
    raise SystemExit(main())
