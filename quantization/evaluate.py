"""B5: for each GGUF file, size, load time, peak RSS, prompt/generation tokens/s, perplexity on
held-out code and B1 exact match, as a Markdown table (+ JSON).

Speed, memory and perplexity come from ``python -m quantization.measure`` run once per file in
a child process (see that module for exactly what is measured). B1 EM comes from the project's
own benchmark, ``python -m benchmarks.b1_humaneval_infill --model FILE`` (the real server over
LSP), on the quick set or its first N tasks (``--b1 N``); ``--b1-from FILE=SUMMARY.json`` reuses
a B1 run already made for that same file instead of running it again.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
SERVER_CONTEXT = 4096  # the server's default contextSize
Say = Callable[[str], None]


@dataclass
class Row:
    label: str
    path: Path
    qtype: str
    arch: str
    dialect: str
    measured: dict[str, Any] = field(default_factory=dict)
    b1: dict[str, Any] | None = None  # {"em", "tasks", "emPct", "source"}


def file_type(kv: dict[str, Any]) -> str:
    """``general.file_type`` by llama.cpp's name ("Q4_K_M"), from llama_cpp's constants."""
    import llama_cpp

    value = kv.get("general.file_type")
    if value is None:
        return "?"
    for name in dir(llama_cpp):
        if name.startswith("LLAMA_FTYPE_") and getattr(llama_cpp, name) == value:
            return name.removeprefix("LLAMA_FTYPE_").removeprefix("MOSTLY_").removeprefix("ALL_")
    return str(value)


def describe(path: Path) -> tuple[str, str, str, int]:
    """(quant type, architecture, FIM dialect, context to run at) as infill-lsp reads them."""
    from lsp_server.model import ModelError, read_metadata, resolve_model

    meta = read_metadata(path)
    try:
        dialect = resolve_model(path).dialect.name
    except ModelError:
        dialect = "none"  # no FIM tokens: infill-lsp refuses it, B1 cannot run
    ctx = min(SERVER_CONTEXT, meta.context_length or SERVER_CONTEXT)
    return file_type(meta.kv), meta.architecture or "?", dialect, ctx


def _warm(path: Path) -> None:
    with open(path, "rb") as fh:
        while fh.read(1 << 24):
            pass


def measure(
    path: Path, ctx: int, threads: int, gpu_layers: int = 0, extra: tuple[str, ...] = ()
) -> dict[str, Any]:
    _warm(path)  # load times are for a warm page cache, the same for every file
    cmd = [sys.executable, "-m", "quantization.measure", str(path), "--ctx", str(ctx)]
    cmd += ["--threads", str(threads), "--gpu-layers", str(gpu_layers), *extra]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"measuring {path} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_b1(
    path: Path,
    label: str,
    limit: int,
    ctx: int,
    say: Say,
    results: Path = RESULTS,
    gpu_layers: int = 0,
) -> dict[str, Any]:
    """The project's B1 benchmark on ``path``: quick set (limit 0) or its first ``limit`` tasks."""
    out = results / f"b5-b1-{label}.jsonl"
    cmd = [sys.executable, "-m", "benchmarks.b1_humaneval_infill", "--model", str(path)]
    cmd += ["--json", str(out), "--set", f"contextSize={ctx}", "--set", f"nGpuLayers={gpu_layers}"]
    if limit > 0:
        cmd += ["--limit", str(limit)]
    say("  " + " ".join(cmd[1:]))
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"B1 on {path} failed:\n{proc.stderr[-2000:]}")
    summary = json.loads(out.with_suffix(".summary.json").read_text(encoding="utf-8"))
    return _b1_from_summary(summary, f"{out.name} ({'quick set' if limit <= 0 else limit})")


def _b1_from_summary(summary: dict[str, Any], source: str) -> dict[str, Any]:
    run = next(r for r in summary["runs"] if not r["run"].startswith("raw"))
    return {"em": run["em"], "tasks": run["tasks"], "emPct": run["emPct"], "source": source}


def reuse_b1(path: Path, summary_path: Path) -> dict[str, Any]:
    """A B1 result already measured for ``path`` (the summary must name the same file)."""
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    run = next(r for r in summary["runs"] if not r["run"].startswith("raw"))
    model = (run.get("info") or {}).get("model") or {}
    if Path(model.get("path", "")).resolve() != path.resolve():
        raise ValueError(f"{summary_path} is a B1 run of {model.get('path')}, not {path}")
    if model.get("size") not in (None, path.stat().st_size):
        raise ValueError(f"{summary_path}: model size differs from {path}")
    return {**_b1_from_summary(summary, str(summary_path)), "reused": True}


def evaluate(
    files: list[tuple[str, Path]],
    *,
    b1_limit: int | None = 0,
    b1_from: dict[Path, Path] | None = None,
    threads: int = 0,
    gpu_layers: int = 0,
    measure_args: tuple[str, ...] = (),
    results: Path = RESULTS,
    say: Say | None = None,
) -> tuple[list[Row], dict[str, Any]]:
    """Measure every (label, file); ``b1_limit`` None skips B1, 0 runs the quick set."""
    say = say or (lambda _: None)
    threads = threads or os.cpu_count() or 2
    env = {"cpus": os.cpu_count(), "load_start": os.getloadavg(), "threads": threads}
    started = time.time()
    rows: list[Row] = []
    for label, path in files:
        qtype, arch, dialect, ctx = describe(path)
        row = Row(label, path, qtype, arch, dialect)
        say(f"{label}: {qtype} {arch}, dialect {dialect}; measuring...")
        row.measured = measure(path, ctx, threads, gpu_layers, measure_args)
        reuse = (b1_from or {}).get(path.resolve())
        if reuse is not None:
            row.b1 = reuse_b1(path, reuse)
        elif b1_limit is not None and dialect != "none":
            row.b1 = run_b1(path, label, b1_limit, ctx, say, results, gpu_layers)
        say(f"  {_line(row)}")
        rows.append(row)
    env.update(load_end=os.getloadavg(), seconds=round(time.time() - started, 1))
    return rows, env


def _line(row: Row) -> str:
    m = row.measured
    em = "" if row.b1 is None else f", B1 EM {row.b1['em']}/{row.b1['tasks']}"
    return (
        f"{m['size'] / 1e6:.1f} MB, load {m['load_s']:.2f} s, RSS {m['peak_rss_mb']:.0f} MB, "
        f"prompt {m['prompt_tps']:.0f} tok/s, gen {m['gen_tps']:.1f} tok/s, "
        f"ppl {m['perplexity']:.3g}{em}"
    )


def markdown(rows: list[Row], env: dict[str, Any]) -> str:
    lines = [
        "| model | type | size (MB) | load (s) | peak RSS (MB) | prompt tok/s | gen tok/s "
        "| perplexity (tokens) | bits/byte | B1 EM |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        m = r.measured
        b1 = "-"
        if r.b1 is not None:
            b1 = f"{r.b1['em']}/{r.b1['tasks']} ({r.b1['emPct']:.1f}%)"
        lines.append(
            f"| {r.label} | {r.qtype} | {m['size'] / 1e6:.2f} | {m['load_s']:.2f} | "
            f"{m['peak_rss_mb']:.0f} | {m['prompt_tps']:.0f} | {m['gen_tps']:.1f} | "
            f"{m['perplexity']:.4g} ({m.get('ppl_tokens', 0)}) | {m['bits_per_byte']:.3f} | {b1} |"
        )
    load = f"{env['load_start'][0]:.1f} -> {env['load_end'][0]:.1f}"
    lines += [
        "",
        f"{env['cpus']} CPUs, {env['threads']} thread(s), 1-min load average {load} during the "
        f"run ({env['seconds']:.0f} s). Perplexity over quantization/data/heldout_code.txt in "
        "each model's own tokens (comparable between types of one model; bits/byte also "
        "across tokenizers).",
    ]
    reused = [r for r in rows if r.b1 and r.b1.get("reused")]
    if any(r.b1 for r in rows):
        lines.append(
            "B1: `python -m benchmarks.b1_humaneval_infill --model FILE` (quick set, or its first "
            "N tasks where the cell says /N); per-task results in "
            "benchmarks/results/b5-b1-LABEL.jsonl."
        )
    if reused:
        own = [
            r for r in rows if r.b1 and Path(r.b1["source"]).name == f"b5-b1-{r.label}.summary.json"
        ]
        other = [
            f"{r.label}: {r.b1['source']}"
            for r in rows
            if r.b1 and r.b1.get("reused") and r not in own
        ]
        if own:
            lines.append(
                f"B1 of {len(own)} file(s) taken from an earlier B1 run on the same file "
                "(benchmarks/results/b5-b1-LABEL.summary.json; path and size checked)."
            )
        if other:
            lines.append(
                "B1 reused from an earlier run of the same file: " + "; ".join(other) + "."
            )
    return "\n".join(lines) + "\n"


def write(rows: list[Row], env: dict[str, Any], md_path: Path) -> Path:
    md_path.parent.mkdir(parents=True, exist_ok=True)
    md_path.write_text(markdown(rows, env), encoding="utf-8")
    data = {
        "env": env,
        "rows": [
            {
                "label": r.label,
                "path": str(r.path),
                "qtype": r.qtype,
                "arch": r.arch,
                "dialect": r.dialect,
                **r.measured,
                "b1": r.b1,
            }
            for r in rows
        ],
    }
    json_path = md_path.with_suffix(".json")
    json_path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return json_path
