"""B4 (retrieval time) — time to find the cross-file snippets of one completion, this tree
against a baseline commit in the same run.

    python -m benchmarks.b4_retrieval_time --versus-rev HEAD~1

On the B4 tasks (rich 15.0.0, 219 cursors): the project indexed once (no store), then for each
task the masked file is opened (live text, as the server's didOpen does) and
``Retriever.retrieve`` runs with the server's budgets (512 tokens, 20 ms) and the real
tokenizer counting tokens through a cache, as the completer does. Each side runs in its own
interpreter, alternating (this tree, baseline, this tree, baseline) so machine load hits both;
medians of the per-round p50 / p95 / max are printed, for all cursors and for "later
requests": cursors in the file the previous cursor was in (the file already open, as while the
user edits it), and "first in a file". A tree whose server parses documents on didOpen
(``warm_tree``) gets that parse, untimed, before its first request in a
file, with the file as on disk; before that, the first request in a file parsed it whole.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from benchmarks.common import REPO, median, worktree

_MEASURE = r"""
import functools, json, sys, time
sys.path.insert(0, ".")
from benchmarks.b4_tasks import generate, masked
from benchmarks.common import median, p95
from lsp_server.context.retrieval import Retriever
from lsp_server.index.workspace import WorkspaceIndex
from lsp_server.engine.llama import open_llama
from lsp_server.model.resolve import resolve_model

llm = open_llama(str(resolve_model(None).path), n_ctx=512, n_threads=1, vocab_only=True)
tokens = lambda s: len(llm.tokenize(s.encode(), add_bos=False, special=False))
count = functools.lru_cache(maxsize=8192)(tokens)
root, tasks = generate()
index = WorkspaceIndex(persist=False)
# The trees open documents are parsed into (the server parses a document on didOpen): the
# index's own since the services layer, a module-level cache before it, none before that.
TREES = getattr(index, "trees", None)
if TREES is None:
    try:
        from lsp_server.syntax.incremental import DOCUMENTS as TREES
    except ImportError:
        TREES = None
index.scan(index.add_folder(root))
times, later, first, previous = [], [], [], None
for t in tasks:
    text = masked(root, t)
    offset = sum(len(line) + 1 for line in text.split("\n")[: t.line]) + len(t.indent)
    path = str(root / t.path)
    if t.path != previous and TREES is not None:
        # didOpen with the file as on disk, then the user's edit (the masked line) and the
        # request: what the server's warm-up parse does, untimed as in the server
        TREES.parse(str((root / t.path).resolve()), "python", (root / t.path).read_text())
    index.set_live(path, text, "python")
    started = time.perf_counter()
    Retriever(index, count).retrieve(path, text, offset, 512, 20.0)
    times.append((time.perf_counter() - started) * 1000)
    if t.path == previous:  # the file was open at the previous task's cursor: a later request
        later.append(times[-1])
    else:
        first.append(times[-1])
    previous = t.path
    index.close_live(path)
print(json.dumps({"p50": median(times), "p95": p95(times), "max": max(times), "n": len(times),
                  "later_p50": median(later), "later_p95": p95(later), "later_n": len(later),
                  "first_p50": median(first), "first_p95": p95(first), "first_n": len(first)}))
"""


def measure(tree: Path) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE], cwd=tree, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.b4_retrieval_time")
    parser.add_argument("--versus-rev", required=True, metavar="COMMIT")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    trees = {"current": REPO, args.versus_rev: worktree(args.versus_rev)}
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    for _ in range(args.rounds):
        for name, tree in trees.items():
            runs[name].append(measure(tree))
            print(f"[b4-retrieval] {name}: {runs[name][-1]}", file=sys.stderr, flush=True)
    print(
        f"{'tree':>12} {'tasks':>5} {'p50 ms':>7} {'p95 ms':>7} {'max ms':>7}"
        f" | {'later requests':>14} {'p50 ms':>7} {'p95 ms':>7}"
        f" | {'first in a file':>15} {'p50 ms':>7} {'p95 ms':>7}"
    )
    keys = ("p50", "p95", "max", "later_p50", "later_p95", "first_p50", "first_p95")
    for name, rows in runs.items():
        p50, p95, top, l50, l95, f50, f95 = (
            median([r.get(k, 0.0) for r in rows]) or 0.0 for k in keys
        )
        print(
            f"{name:>12} {rows[0]['n']:>5.0f} {p50:>7.2f} {p95:>7.2f} {top:>7.2f}"
            f" | {rows[0].get('later_n', 0):>14.0f} {l50:>7.2f} {l95:>7.2f}"
            f" | {rows[0].get('first_n', 0):>15.0f} {f50:>7.2f} {f95:>7.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
