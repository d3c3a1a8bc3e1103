"""Full benchmark output stays out of git; only small summary tables are kept.

The scripts write their full output (per-task .jsonl, .summary.json, server logs) into the
git-ignored ``benchmarks/results/``; the tables README cites live in ``benchmarks/tables/``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RESULTS = "benchmarks/results"
TABLES = REPO / "benchmarks" / "tables"
MAX_TABLE_BYTES = 20_000
TABLE_SUFFIXES = {".md", ".txt"}


def _git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False)


def test_no_file_under_benchmarks_results_is_tracked():
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    inside = _git("rev-parse", "--is-inside-work-tree")
    if inside.returncode != 0 or inside.stdout.strip() != "true":
        pytest.skip("not a git checkout")
    tracked = _git("ls-files", "--", RESULTS)
    assert tracked.returncode == 0, tracked.stderr
    files = tracked.stdout.split()
    assert not files, (
        f"{len(files)} file(s) under {RESULTS}/ are tracked by git; full benchmark output does "
        f"not belong in git (keep the summary table README cites in benchmarks/tables/ and run "
        f"`git rm --cached` on the rest): {files[:10]}"
    )


def test_benchmark_tables_are_small_text_tables():
    if not TABLES.is_dir():
        pytest.skip("no benchmarks/tables/")
    wrong_kind = []
    too_big = []
    for path in sorted(TABLES.rglob("*")):
        if path.is_dir():
            continue
        name = path.relative_to(REPO).as_posix()
        if path.suffix not in TABLE_SUFFIXES:
            wrong_kind.append(name)
        size = path.stat().st_size
        if size > MAX_TABLE_BYTES:
            too_big.append(f"{name} ({size} bytes)")
    assert not wrong_kind, f"only .md/.txt tables belong in benchmarks/tables/: {wrong_kind}"
    assert not too_big, f"tables over {MAX_TABLE_BYTES} bytes (full output?): {too_big}"


def test_tables_cited_by_the_readmes_exist():
    cited = set()
    for readme in (REPO / "README.md", REPO / "benchmarks" / "README.md"):
        if readme.is_file():
            text = readme.read_text(encoding="utf-8")
            cited |= set(re.findall(r"benchmarks/tables/([\w.\-]+\.(?:md|txt))", text))
    missing = sorted(name for name in cited if not (TABLES / name).is_file())
    assert not missing, f"README cites tables that are not in benchmarks/tables/: {missing}"
