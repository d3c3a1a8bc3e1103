"""B4 (scale) — the repository index on a 10,000-file tree of real sources.

    python -m benchmarks.b4_index_scale            # builds the tree once, then measures

Tree: the Python sources of this project's virtual environment (site-packages) and of the B4
project, copied under ``copy-N/`` folders until there are 10,000 files
(``benchmarks/.cache/b4/tree-10k``, built once).

Measured, each in a fresh interpreter (peak RSS is that process's ru_maxrss, next to the same
interpreter's RSS after the imports alone):
- cold index: no store yet (every file read and parsed);
- restart: the same tree with the store of the cold run (files unchanged: nothing parsed);
- incremental update: 50 files edited on disk, ``update_file`` per file (median, p95), and the
  watchdog path end to end (edit -> the new definition is in the index), 20 edits;
- retrieval on that index: 200 cursors in random files, the real tokenizer counting tokens
  (median, p95).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.b4_tasks import CACHE, project_root
from benchmarks.common import median, p95

TARGET_FILES = 10_000

_MEASURE = r"""
import json, random, resource, sys, time
from pathlib import Path
from lsp_server.index.workspace import WorkspaceIndex
from lsp_server.index.watcher import IndexWatcher
base_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
root, mode = Path(sys.argv[1]), sys.argv[2]
index = WorkspaceIndex()
folder = index.add_folder(root)
t0 = time.perf_counter()
index.scan(folder)
scan_ms = (time.perf_counter() - t0) * 1000
out = {"mode": mode, "files": index.stats.files, "symbols": index.stats.symbols,
       "scanMs": scan_ms, "reused": folder.reused, "baseKb": base_kb,
       "peakKb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}
if mode == "incremental":
    rng = random.Random(0)
    files = sorted(p for p in index._entries if p.endswith(".py"))
    edits = rng.sample(files, 50)
    times = []
    for i, path in enumerate(edits):
        p = Path(path)
        p.write_text(p.read_text() + f"\n\ndef added_by_bench_{i}():\n    return {i}\n")
        t = time.perf_counter()
        index.update_file(p)
        times.append((time.perf_counter() - t) * 1000)
    out["updateMs"] = times
    watcher = IndexWatcher(index)
    watcher.start([root])
    e2e = []
    for i, path in enumerate(rng.sample(files, 20)):
        p = Path(path)
        name = f"watched_by_bench_{i}"
        t = time.perf_counter()
        p.write_text(p.read_text() + f"\n\ndef {name}():\n    return {i}\n")
        while not index.definitions(name):
            time.sleep(0.002)
            if time.perf_counter() - t > 10:
                break
        e2e.append((time.perf_counter() - t) * 1000)
    watcher.stop()
    out["watchMs"] = e2e
    from llama_cpp import Llama
    from lsp_server.model.resolve import resolve_model
    from lsp_server.context.retrieval import Retriever
    llm = Llama(model_path=str(resolve_model(None).path), vocab_only=True, verbose=False)
    count = lambda text: len(llm.tokenize(text.encode(), add_bos=False)) if text else 0
    retriever = Retriever(index, count)
    cursors = []
    for path in rng.sample(files, 200):
        text = Path(path).read_text(errors="replace")
        cursors.append((path, text, rng.randrange(len(text) + 1)))
    retrieval, found = [], []
    for path, text, offset in cursors:
        index.set_live(path, text, "python")
        t = time.perf_counter()
        snippets = retriever.retrieve(path, text, offset, 512, time_budget_ms=20)
        retrieval.append((time.perf_counter() - t) * 1000)
        found.append(len(snippets))
    out["retrievalMs"] = retrieval
    out["snippets"] = found
print(json.dumps(out))
"""


def build_tree(dest: Path, target: int = TARGET_FILES) -> Path:
    if dest.exists() and sum(1 for _ in dest.rglob("*.py")) == target:
        return dest
    shutil.rmtree(dest, ignore_errors=True)
    sources: list[tuple[Path, Path]] = []
    for base in (Path(sys.prefix) / "lib", project_root()):
        sources += [(base, p) for p in sorted(base.rglob("*.py")) if p.is_file()]
    count, copy = 0, 0
    while count < target:
        for base, path in sources:
            if count >= target:
                break
            # "copy-N/lib" rather than site-packages: real sources, not a folder the index skips
            rel = path.relative_to(base).as_posix().replace("site-packages", "pkgs")
            copied = dest / f"copy-{copy}" / rel
            copied.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, copied)
            count += 1
        copy += 1
    return dest


def measure(root: Path, mode: str, store: Path) -> dict:
    env = {**os.environ, "INFILL_LSP_INDEX_DIR": str(store)}
    proc = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(root), mode],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return json.loads(proc.stdout.strip().split("\n")[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.b4_index_scale")
    parser.add_argument("--files", type=int, default=TARGET_FILES, help="size of the tree")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    root = build_tree(CACHE / f"tree-{args.files}", args.files)
    files = sum(1 for _ in root.rglob("*.py"))
    print(f"[scale] tree: {files} .py files at {root} ({time.perf_counter() - started:.0f} s)")
    store = Path(tempfile.mkdtemp(prefix="infill-b4-store-"))
    work = Path(tempfile.mkdtemp(prefix="infill-b4-tree-")) / "tree"
    shutil.copytree(root, work)  # the incremental run edits files: never the cached tree
    try:
        cold = measure(work, "cold", store)
        warm = measure(work, "restart", store)
        inc = measure(work, "incremental", store)
    finally:
        shutil.rmtree(store, ignore_errors=True)
        shutil.rmtree(work.parent, ignore_errors=True)
    mb = 1024
    print(f"{'run':12} {'files':>6} {'symbols':>8} {'scan s':>7} {'reused':>7} {'RSS MB':>7} "
          f"{'(imports only)':>14}")  # fmt: skip
    for row in (cold, warm, inc):
        print(
            f"{row['mode']:12} {row['files']:>6} {row['symbols']:>8} {row['scanMs'] / 1000:>7.1f} "
            f"{row['reused']:>7} {row['peakKb'] / mb:>7.0f} {row['baseKb'] / mb:>14.0f}"
        )
    print(
        f"update_file per edited file: p50 {median(inc['updateMs']):.1f} ms, "
        f"p95 {p95(inc['updateMs']):.1f} ms (50 edits)"
    )
    print(
        f"watchdog, edit on disk -> in the index: p50 {median(inc['watchMs']):.0f} ms, "
        f"p95 {p95(inc['watchMs']):.0f} ms (20 edits; 300 ms of it is the debounce)"
    )
    with_snippets = sum(1 for n in inc["snippets"] if n)
    print(
        f"retrieval on the 10k index: p50 {median(inc['retrievalMs']):.2f} ms, "
        f"p95 {p95(inc['retrievalMs']):.2f} ms (200 cursors, {with_snippets} with snippets)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
