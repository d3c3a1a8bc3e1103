"""B4 lab — retrieval strategies compared in-process, on a sample of the B4 tasks, in one run.

    python -m benchmarks.b4_lab --every 5 --variants off,on

Exploration, not the benchmark of record (that is ``benchmarks.b4_repo_context``, over LSP):
the same tasks, settings and scoring as B4, but the pipeline is called directly (one
``Completer``, one ``WorkspaceIndex`` of the project) so a strategy costs minutes, not an hour.
Each variant is a retriever: ``off`` (no snippets), ``on`` (the server's ``Retriever``), and any
strategy registered in ``STRATEGIES``. Variants alternate task by task, so machine load hits
them alike. Prints EM / ES per variant, and which tasks each variant alone got right.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.b4_repo_context import BENCH_SETTINGS, first_line, similarity
from benchmarks.b4_tasks import generate, masked
from benchmarks.common import lab_settings, median
from lsp_server.context.retrieval import snippet_cost

Strategy = Callable[..., tuple]  # (index, count, path, text, offset, budget) -> snippets
STRATEGIES: dict[str, Strategy] = {}


def _current(index, count, path, text, offset, budget):
    from lsp_server.context.retrieval import Retriever

    return Retriever(index, count).retrieve(path, text, offset, budget, time_budget_ms=1e9)


STRATEGIES["on"] = _current

_TEXTS: dict[str, list[str]] = {}


def _lines_of(index, path: str) -> list[str]:
    if path not in _TEXTS:
        _TEXTS[path] = (index.text_of(path) or "").split("\n")
    return _TEXTS[path]


def _fit(snippets, count, budget):
    out, used = [], 0
    for s in snippets:
        cost = snippet_cost(count, s.text)
        if used + cost > budget:
            continue
        out.append(s)
        used += cost
    return tuple(out)


def _usages(index, count, path, text, offset, budget, per_name=3):
    """Call sites in other files of the names this file imports (``Name(`` or ``Name.``),
    nearest-used name first; each distinct line once."""
    import re

    from lsp_server.context.retrieval import _by_nearest_use
    from lsp_server.context.types import Snippet

    own = index.symbols_of(path)
    if own is None:
        return ()
    files = sorted(p for p in index._entries if p.endswith(".py") and p != path)
    found, seen = [], set()
    for imp in _by_nearest_use(own.imports, text, offset):
        if imp.local in seen or not (
            imp.module.startswith(".") or index.module_files(imp.module, path)
        ):
            continue
        seen.add(imp.local)
        pattern = re.compile(rf"(?<![\w.]){re.escape(imp.name)}\s*[(.]")
        hits = 0
        for other in files:
            for line in _lines_of(index, other):
                stripped = line.strip()
                if stripped.startswith(("from ", "import ", "#", "def ", "class ", "@")):
                    continue
                if stripped in seen or len(stripped) > 120 or not pattern.search(line):
                    continue
                seen.add(stripped)
                found.append(Snippet(index.display(other)[1], stripped, "usage"))
                hits += 1
                break
            if hits >= per_name:
                break
    return _fit(found, count, budget)


def _similar_all(index, count, path, text, offset, budget, top=3):
    from lsp_server.context.retrieval import SIMILAR_LINES
    from lsp_server.context.types import Snippet
    from lsp_server.index.chunks import identifiers, jaccard

    query = identifiers("\n".join(text[:offset].split("\n")[-SIMILAR_LINES:]))
    scored = []
    for other in index._entries:
        if other == path or not other.endswith(".py"):
            continue
        for c in index.chunks_of(other):
            score = jaccard(query, c.idents)
            if score > 0.1:
                scored.append((score, other, c.text))
    scored.sort(key=lambda r: -r[0])
    snippets = [Snippet(index.display(p)[1], _dedent(t), "similar") for _, p, t in scored[:top]]
    return _fit(snippets, count, budget)


def _usages_then_on(index, count, path, text, offset, budget):
    first = _usages(index, count, path, text, offset, budget // 2)
    used = sum(snippet_cost(count, s.text) for s in first)
    return first + _current(index, count, path, text, offset, budget - used)


def _dedent(text: str) -> str:
    from lsp_server.context.retrieval import _dedent as dedent

    return dedent(text)


STRATEGIES["usages"] = _usages
STRATEGIES["similar"] = _similar_all
STRATEGIES["usages_on"] = _usages_then_on


def _typed_to_name(pair):
    """(task with the rest of the line as target, the typed part): the cursor right after the
    first cross-file name of the line and the ``.`` or ``(`` that follows it; None when the
    name is not followed by one (a bare reference) or nothing would be left to complete."""
    import dataclasses
    import re

    task, _ = pair
    best = None
    for name in task.names:
        m = re.search(rf"(?<![\w.]){re.escape(name)}[.(]", task.target)
        if m and (best is None or m.end() < best):
            best = m.end()
    if best is None or best >= len(task.target):
        return None
    return dataclasses.replace(task, target=task.target[best:]), task.target[:best]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.b4_lab")
    parser.add_argument("--every", type=int, default=5, help="every Nth B4 task")
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--variants", default="off,on")
    parser.add_argument("--model", default="", help="GGUF path or 0.5b/1.5b")
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--cut",
        choices=("line", "name"),
        default="line",
        help="line: the whole line masked (B4); name: typed up to the first cross-file name "
        "and the '.' or '(' after it, the rest of the line masked (an API call being written)",
    )
    args = parser.parse_args(argv)

    from lsp_server.completion import Completer
    from lsp_server.context.types import Snapshot
    from lsp_server.engine.base import CancelToken
    from lsp_server.index.workspace import WorkspaceIndex
    from lsp_server.loader import load_engine

    root, all_tasks = generate()
    tasks = [(t, "") for t in all_tasks[:: args.every]]
    if args.limit:
        tasks = tasks[: args.limit]
    settings = lab_settings({**BENCH_SETTINGS, "logPrompts": False}, args.model)
    loaded = load_engine(settings)
    index = WorkspaceIndex(persist=False)
    index.scan(index.add_folder(root))
    completer = Completer(loaded.engine, index.trees)
    variants = args.variants.split(",")
    rows: dict[str, list[dict]] = {v: [] for v in variants}
    out = args.json.open("w") if args.json else None
    if args.cut == "name":
        tasks = [t for t in (_typed_to_name(t) for t in tasks) if t is not None]
    for n, task in enumerate(tasks, 1):
        task, typed = task
        path = str((root / task.path).resolve())
        text = masked(root, task)
        lines = text.split("\n")
        lines[task.line] += typed
        text = "\n".join(lines)
        offset = sum(len(line) + 1 for line in lines[: task.line]) + len(lines[task.line])
        index.set_live(path, text, "python")
        for variant in variants:
            started = time.perf_counter()
            if variant == "off":
                snippets: tuple = ()
            else:
                snippets = STRATEGIES[variant](
                    index, completer._count, path, text, offset, settings.repo_context_tokens
                )
            retrieval_ms = (time.perf_counter() - started) * 1000
            completer._extras.clear()
            completer._snippets = lambda doc, _s, _i, s=snippets: s  # type: ignore[method-assign]
            snapshot = Snapshot(text, offset, "python", path)
            result = completer.complete(snapshot, CancelToken(), settings, index)
            got = first_line(result.text)
            row = {
                "variant": variant,
                "task_id": task.task_id,
                "target": task.target,
                "answer": got,
                "raw": result.raw,
                "exact": got == task.target,
                "similarity": round(similarity(got, task.target), 4),
                "snippets": len(snippets),
                "retrieval_ms": round(retrieval_ms, 2),
                "prompt": [(s.path, s.text) for s in snippets],
            }
            rows[variant].append(row)
            if out is not None:
                out.write(json.dumps(row) + "\n")
                out.flush()
        index.close_live(path)
        em = ", ".join(f"{v} {sum(r['exact'] for r in rows[v])}" for v in variants)
        print(f"[lab] {n}/{len(tasks)} exact: {em}", file=sys.stderr, flush=True)
    print(f"{'variant':12} {'EM':>9} {'ES':>7} {'snippets':>8} {'retrieval p50 ms':>16}")
    for variant, got in rows.items():
        em = sum(r["exact"] for r in got)
        es = sum(r["similarity"] for r in got) / max(1, len(got))
        with_snippets = sum(1 for r in got if r["snippets"])
        ms = median([r["retrieval_ms"] for r in got]) if got else 0.0
        print(f"{variant:12} {em:>4}/{len(got):<4} {es:>6.1%} {with_snippets:>8} {ms:>16.2f}")
    for variant in variants:
        alone = [
            r["task_id"]
            for i, r in enumerate(rows[variant])
            if r["exact"] and not any(rows[o][i]["exact"] for o in variants if o != variant)
        ]
        print(f"only {variant}: {', '.join(alone) or '-'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
