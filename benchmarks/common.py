"""Small pieces every benchmark script shares: paths, --set parsing, percentiles, the labs'
in-process settings."""

from __future__ import annotations

import json
import statistics
import subprocess
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"


def parse_sets(pairs: list[str]) -> dict[str, Any]:
    """--set key=value (camelCase wire names); values parsed as JSON when they are JSON."""
    settings: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"--set expects key=value, got {pair!r}")
        try:
            settings[key] = json.loads(value)
        except json.JSONDecodeError:
            settings[key] = value
    return settings


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def median(values: list[float | int | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def process_memory_kb(pid: int | None) -> dict[str, int]:
    """A live process's memory from /proc/<pid>/status in KiB: ``VmRSS`` (now), ``VmHWM`` (its
    peak RSS), ``RssAnon`` (RSS less file-backed pages such as a mapped model); {} when it cannot
    be read (no such process, not Linux)."""
    if pid is None:
        return {}
    memory: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as fh:
            for row in fh:
                key, _, value = row.partition(":")
                if key in ("VmRSS", "VmHWM", "RssAnon"):
                    memory[key] = int(value.split()[0])
    except (OSError, ValueError, IndexError):
        return {}
    return memory


def worktree(rev: str) -> Path:
    """A checkout of ``rev`` (a commit) to run a baseline server from, made once and reused."""
    sha = subprocess.run(
        ["git", "rev-parse", "--short", rev], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.strip()
    path = REPO / "benchmarks" / ".cache" / f"worktree-{sha}"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "worktree", "add", "--detach", str(path), sha], cwd=REPO, check=True)
    return path


def lab_settings(raw: dict[str, Any], model: str = ""):
    """The server's ``Settings`` for an in-process lab: ``raw`` wire settings, plus ``--model``
    (a GGUF path, or a name such as ``1.5b``)."""
    from lsp_server.settings import Settings, merge

    raw = dict(raw)
    if model.endswith(".gguf"):
        raw["modelPath"] = model
    elif model:
        raw["model"] = model
    settings, errors = merge(Settings(), raw)
    if errors:
        raise SystemExit(f"bad settings: {errors}")
    return settings
