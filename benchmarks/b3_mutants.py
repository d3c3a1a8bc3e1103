"""B3 — "Fix this function": the seeded, published bug generator over HumanEval.

    python -m benchmarks.b3_mutants                           # seed 0, all 164 problems
    python -m benchmarks.b3_mutants --seed 1 --show 5         # another seed, print 5 diffs
    python -m benchmarks.b3_mutants --json benchmarks/results/b3_mutants-seed0.json

Definition (BENCHMARKS.md, B3): inject ONE deterministic bug per problem into the canonical
solution (operator swap, comparison flip, off-by-one in a range/index, wrong variable, dropped
negation, wrong constant), keeping only mutants that parse and FAIL the problem's tests.

Design choices, and why:

* Bugs are LOCATED with ``ast`` but APPLIED as a minimal text edit over the token's span, so the
  rest of the file (comments, docstrings, formatting) stays byte-identical: a model asked to fix
  the function must find a one-token bug, not a reformatted file. Only spans that start after
  the prompt (signature + docstring) are edited, so the specification is never corrupted.
* Per problem, ``random.Random(f"{seed}:{task_id}")`` shuffles the candidates of each kind and
  the order of the kinds, then the kinds are interleaved round-robin. Seeding per problem (not
  one global stream) keeps a problem's mutant independent of which other problems ran, and the
  interleaving keeps the kind mix balanced (a flat shuffle would be mostly ``wrong_variable``,
  which has by far the most candidates).
* ``limit`` counts PROBLEMS (the first N), not mutants, so ``generate(limit=n)`` is always a
  prefix of ``generate()`` for the same seed.
* A mutant is kept only when its tests fail (exit != 0 or time out): a mutant the tests cannot
  tell apart from the original is not a bug the benchmark can score.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import itertools
import json
import random
import re
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.common import RESULTS
from benchmarks.humaneval_tasks import Problem, load_problems, run_program

KINDS = (
    "operator_swap",
    "comparison_flip",
    "off_by_one",
    "wrong_variable",
    "dropped_negation",
    "wrong_constant",
)
# Bump when the candidate rules change: cached mutant sets of another version are regenerated.
GENERATOR_VERSION = 1
MAX_TRIES = 8  # test runs per problem, bounds the time spent on problems whose mutants survive
MUTANT_TIMEOUT_S = 5.0
WORKERS = 2  # the work is subprocess-bound; two keeps a laptop usable

_BINOP: dict[type[ast.operator], tuple[str, str]] = {
    ast.Add: ("+", "-"),
    ast.Sub: ("-", "+"),
    ast.Mult: ("*", "//"),
    ast.Div: ("/", "*"),
    ast.FloorDiv: ("//", "*"),
    ast.Mod: ("%", "//"),
    ast.Pow: ("**", "*"),
    ast.BitAnd: ("&", "|"),
    ast.BitOr: ("|", "&"),
    ast.BitXor: ("^", "|"),
    ast.LShift: ("<<", ">>"),
    ast.RShift: (">>", "<<"),
}
_CMPOP: dict[type[ast.cmpop], tuple[str, str]] = {
    ast.Lt: ("<", "<="),
    ast.LtE: ("<=", "<"),
    ast.Gt: (">", ">="),
    ast.GtE: (">=", ">"),
    ast.Eq: ("==", "!="),
    ast.NotEq: ("!=", "=="),
    ast.In: ("in", "not in"),
    ast.NotIn: ("not in", "in"),
    ast.Is: ("is", "is not"),
    ast.IsNot: ("is not", "is"),
}
_BOOLOP: dict[type[ast.boolop], tuple[str, str]] = {ast.And: ("and", "or"), ast.Or: ("or", "and")}
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)

Edit = tuple[int, int, str]  # (start, end, replacement) as character offsets into the source
Flagged = list[tuple[ast.AST, frozenset[str]]]


@dataclass(frozen=True)
class Mutant:
    """One injected bug. ``original``/``buggy`` are the whole file: prompt + solution."""

    task_id: str
    entry_point: str
    kind: str
    description: str  # e.g. "line 14: `<` -> `<=`" (1-based line of ``buggy``)
    original: str
    buggy: str
    line: int  # 0-based line of ``buggy`` where the edit starts
    problem: Problem = field(repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "entry_point": self.entry_point,
            "kind": self.kind,
            "description": self.description,
            "line": self.line,
            "original": self.original,
            "buggy": self.buggy,
        }

    @classmethod
    def from_json(cls, row: dict[str, Any], problem: Problem) -> Mutant:
        keys = ("task_id", "entry_point", "kind", "description", "original", "buggy", "line")
        return cls(**{key: row[key] for key in keys}, problem=problem)


class _Source:
    """The file text plus the offset math ``ast`` positions need (its columns are UTF-8 bytes;
    a few HumanEval prompts are not ASCII)."""

    def __init__(self, text: str, region_start: int) -> None:
        self.text = text
        self.region_start = region_start
        self._lines = text.split("\n")
        lengths = (len(line) + 1 for line in self._lines)
        self._starts = list(itertools.accumulate(lengths, initial=0))

    def offset(self, lineno: int, col: int) -> int:
        line = self._lines[lineno - 1]
        return self._starts[lineno - 1] + len(line.encode()[:col].decode("utf-8", "ignore"))

    def span(self, node: ast.AST) -> tuple[int, int]:
        start = self.offset(node.lineno, node.col_offset)  # type: ignore[attr-defined]
        return start, self.offset(node.end_lineno, node.end_col_offset)  # type: ignore[attr-defined]

    def segment(self, node: ast.AST) -> str:
        start, end = self.span(node)
        return self.text[start:end]

    def editable(self, start: int) -> bool:
        return start >= self.region_start

    def token(self, left: ast.AST, right: ast.AST, old: str, new: str) -> list[Edit]:
        """The edit turning the operator ``old`` between two operands into ``new``.

        ``ast`` has no position for operators, so the gap between the operands is matched: only
        whitespace, parentheses and line continuations may surround the operator (anything else,
        e.g. a comment, and the candidate is dropped rather than guessed).
        """
        lo, hi = self.span(left)[1], self.span(right)[0]
        symbol = r"\s+".join(re.escape(part) for part in old.split())
        match = re.fullmatch(rf"[\s()\\]*({symbol})[\s()\\]*", self.text[lo:hi])
        if match is None or not self.editable(lo + match.start(1)):
            return []
        return [(lo + match.start(1), lo + match.end(1), new)]


def _flagged(node: ast.AST, flags: frozenset[str] = frozenset()) -> Iterator[Any]:
    """Walk the tree, tagging nodes inside ``range(...)`` args, subscripts and f-strings.

    Off-by-one and wrong-constant need to know where an integer sits; f-strings are skipped
    entirely because their inner positions are unreliable before Python 3.12.
    """
    yield node, flags
    for name, value in ast.iter_fields(node):
        extra: set[str] = set()
        if isinstance(node, ast.JoinedStr):
            extra.add("fstring")
        elif name == "args" and _is_range(node):
            extra.add("range")
        elif name == "slice" and isinstance(node, ast.Subscript):
            extra.add("index")
        for child in value if isinstance(value, list) else [value]:
            if isinstance(child, ast.AST):
                yield from _flagged(child, flags | extra)


def _is_range(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range"
    )


def _is_int(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Constant)
        and isinstance(node.value, int)
        and not isinstance(node.value, bool)
    )


def _operator_swaps(src: _Source, nodes: Flagged) -> Iterator[Edit]:
    for node, _ in nodes:
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOP:
            old, new = _BINOP[type(node.op)]
            yield from src.token(node.left, node.right, old, new)
        elif isinstance(node, ast.AugAssign) and type(node.op) in _BINOP:
            old, new = _BINOP[type(node.op)]
            yield from src.token(node.target, node.value, old + "=", new + "=")
        elif isinstance(node, ast.BoolOp):
            old, new = _BOOLOP[type(node.op)]
            for left, right in itertools.pairwise(node.values):
                yield from src.token(left, right, old, new)


def _comparison_flips(src: _Source, nodes: Flagged) -> Iterator[Edit]:
    for node, _ in nodes:
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            for op, (left, right) in zip(node.ops, itertools.pairwise(operands), strict=True):
                old, new = _CMPOP[type(op)]
                yield from src.token(left, right, old, new)


def _shifted(src: _Source, node: ast.AST | None) -> Iterator[Edit]:
    """``n`` -> ``n + 1`` / ``n - 1`` for a name or call (an atom, so no parentheses needed)."""
    if isinstance(node, (ast.Name, ast.Call)):
        start, end = src.span(node)
        text = src.text[start:end]
        yield from ((start, end, f"{text} + 1"), (start, end, f"{text} - 1"))


def _off_by_ones(src: _Source, nodes: Flagged) -> Iterator[Edit]:
    for node, flags in nodes:
        if "fstring" in flags:
            continue
        if _is_int(node) and flags & {"range", "index"}:
            start, end = src.span(node)
            value = node.value  # type: ignore[attr-defined]
            yield from ((start, end, str(value + 1)), (start, end, str(value - 1)))
        elif _is_range(node):
            for arg in node.args:  # type: ignore[attr-defined]
                yield from _shifted(src, arg)
        elif isinstance(node, ast.Subscript):
            index = node.slice
            bounds = [index.lower, index.upper] if isinstance(index, ast.Slice) else [index]
            for bound in bounds:
                yield from _shifted(src, bound)


def _dropped_negations(src: _Source, nodes: Flagged) -> Iterator[Edit]:
    for node, flags in nodes:
        if "fstring" in flags or not isinstance(node, ast.UnaryOp):
            continue
        token = {ast.Not: "not", ast.USub: "-"}.get(type(node.op))
        start = src.span(node)[0]
        if token is None or not src.text.startswith(token, start):
            continue
        end, operand = start + len(token), src.span(node.operand)[0]
        while end < operand and src.text[end] in " \t":
            end += 1
        yield start, end, ""


def _wrong_constants(src: _Source, nodes: Flagged) -> Iterator[Edit]:
    for node, flags in nodes:
        if flags & {"fstring", "range", "index"} or not isinstance(node, ast.Constant):
            continue
        value = node.value
        if isinstance(value, bool):
            new = str(not value)
        elif isinstance(value, int):
            new = {0: "1", 1: "0"}.get(value, str(value + 1))
        else:
            continue
        yield (*src.span(node), new)


def _entry_function(tree: ast.Module, entry_point: str) -> ast.FunctionDef | None:
    functions = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef) and node.name == entry_point
    ]
    return functions[0] if functions else None


def _own_nodes(node: ast.AST) -> Iterator[ast.AST]:
    """Descendants in the same scope: stop at nested functions, lambdas and comprehensions."""
    for child in ast.iter_child_nodes(node):
        yield child
        if not isinstance(child, _SCOPES + _COMPREHENSIONS):
            yield from _own_nodes(child)


def _arg_names(args: ast.arguments) -> set[str]:
    every = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
    return {arg.arg for arg in every if arg is not None}


def _wrong_variables(src: _Source, tree: ast.Module, entry_point: str) -> Iterator[Edit]:
    """A local name load -> another local of the function that is in scope at that point.

    In scope: the arguments, names assigned on an EARLIER line (so ``x = y + 1`` never reads an
    unbound ``x``), and the targets of enclosing comprehensions (not in their first iterable,
    which runs outside) and lambdas. Names that are called are left alone: swapping a function
    for a value is a type error, not a plausible bug.
    """
    func = _entry_function(tree, entry_point)
    if func is None:
        return
    stores = [
        (node.lineno, node.id)
        for node in _own_nodes(func)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store)
    ]
    called = {id(node.func) for node in ast.walk(func) if isinstance(node, ast.Call)}

    outer: dict[int, frozenset[str]] = {}  # a comprehension's first iterable: enclosing scope

    def visit(node: ast.AST, extra: frozenset[str]) -> Iterator[Edit]:
        extra = outer.pop(id(node), extra)
        if isinstance(node, ast.JoinedStr):
            return
        if isinstance(node, _COMPREHENSIONS):
            outer[id(node.generators[0].iter)] = extra
            targets = {
                n.id for g in node.generators for n in ast.walk(g.target) if isinstance(n, ast.Name)
            }
            extra = extra | targets
        elif isinstance(node, (ast.Lambda, ast.FunctionDef)) and node is not func:
            extra = extra | _arg_names(node.args)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and id(node) not in called:
            scope = _arg_names(func.args) | extra
            scope |= {name for lineno, name in stores if lineno < node.lineno}
            start, end = src.span(node)
            if node.id in scope and src.editable(start):
                for other in sorted(scope - {node.id, "_"}):
                    yield start, end, other
        for child in ast.iter_child_nodes(node):
            yield from visit(child, extra)

    yield from visit(func, frozenset())


def _mutant(problem: Problem, kind: str, edit: Edit) -> Mutant:
    start, end, new = edit
    original = problem.prompt + problem.canonical_solution
    old = original[start:end]
    line = original.count("\n", 0, start)
    what = f"`{old}` -> `{new}`" if new else f"dropped `{old.strip()}`"
    return Mutant(
        task_id=problem.task_id,
        entry_point=problem.entry_point,
        kind=kind,
        description=f"line {line + 1}: {what}",
        original=original,
        buggy=original[:start] + new + original[end:],
        line=line,
        problem=problem,
    )


def candidates(problem: Problem) -> list[Mutant]:
    """Every candidate bug for a problem, unchecked, grouped by kind in source order."""
    src = _Source(problem.prompt + problem.canonical_solution, len(problem.prompt))
    tree = ast.parse(src.text)
    nodes: Flagged = list(_flagged(tree))
    edits = {
        "operator_swap": _operator_swaps(src, nodes),
        "comparison_flip": _comparison_flips(src, nodes),
        "off_by_one": _off_by_ones(src, nodes),
        "wrong_variable": _wrong_variables(src, tree, problem.entry_point),
        "dropped_negation": _dropped_negations(src, nodes),
        "wrong_constant": _wrong_constants(src, nodes),
    }
    mutants: list[Mutant] = []
    for kind in KINDS:
        seen: set[Edit] = set()
        for edit in edits[kind]:
            if edit not in seen and src.editable(edit[0]):
                seen.add(edit)
                mutants.append(_mutant(problem, kind, edit))
    return mutants


def ordered_candidates(problem: Problem, seed: int = 0) -> list[Mutant]:
    """The candidates in the seeded order they are tried: shuffled, kinds interleaved."""
    rng = random.Random(f"{seed}:{problem.task_id}")
    by_kind: dict[str, list[Mutant]] = {kind: [] for kind in KINDS}
    for mutant in candidates(problem):
        by_kind[mutant.kind].append(mutant)
    for kind in KINDS:
        rng.shuffle(by_kind[kind])
    kinds = [kind for kind in KINDS if by_kind[kind]]
    rng.shuffle(kinds)
    rounds = itertools.zip_longest(*(by_kind[kind] for kind in kinds))
    return [mutant for group in rounds for mutant in group if mutant is not None]


def is_real_change(mutant: Mutant) -> bool:
    """Parses, and the AST differs from the original's (a no-op edit is not a bug)."""
    try:
        buggy = ast.dump(ast.parse(mutant.buggy))
    except SyntaxError:
        return False
    return buggy != ast.dump(ast.parse(mutant.original))


def program_with_tests(problem: Problem, source: str) -> str:
    """``source`` (prompt + a solution) followed by the problem's tests, ready to run."""
    return source + "\n\n" + problem.test + f"\n\ncheck({problem.entry_point})\n"


def mutate_problem(
    problem: Problem,
    seed: int = 0,
    *,
    check: bool = True,
    max_tries: int = MAX_TRIES,
    timeout: float = MUTANT_TIMEOUT_S,
) -> Mutant | None:
    """The first seeded candidate that parses, changes the code and (``check``) fails the tests.

    Only test runs count against ``max_tries``; None when every tried candidate survived.
    """
    tries = 0
    for mutant in ordered_candidates(problem, seed):
        if not is_real_change(mutant):
            continue
        if not check:
            return mutant
        if tries >= max_tries:
            return None
        tries += 1
        if not run_program(program_with_tests(problem, mutant.buggy), timeout):
            return mutant
    return None


def cache_path(seed: int) -> Path:
    return RESULTS / f"b3_mutants-seed{seed}.json"


def save(path: Path, mutants: Sequence[Mutant], header: dict[str, Any]) -> None:
    """Write the published mutant set: a header (how it was made), counts, then the mutants."""
    counts = Counter(mutant.kind for mutant in mutants)
    payload = {
        **header,
        "total": len(mutants),
        "counts": {kind: counts[kind] for kind in KINDS},
        "mutants": [mutant.to_json() for mutant in mutants],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")


def load(path: Path, problems: Sequence[Problem] | None = None) -> list[Mutant]:
    """Read a file written by ``save``, re-attaching each mutant's Problem."""
    by_id = {problem.task_id: problem for problem in (problems or load_problems())}
    rows = json.loads(path.read_text(encoding="utf-8"))["mutants"]
    return [Mutant.from_json(row, by_id[row["task_id"]]) for row in rows]


def _header(seed: int, limit: int | None, check: bool, pool: Sequence[Problem]) -> dict[str, Any]:
    return {
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "limit": limit,
        "checked": check,
        "problems": [problem.task_id for problem in pool],
    }


def _read_cache(path: Path, header: dict[str, Any], pool: Sequence[Problem]) -> list | None:
    """The cached mutants when the file was made the same way over the same problems."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if any(data.get(key) != value for key, value in header.items()):
            return None
        return load(path, pool)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def generate(
    seed: int = 0,
    limit: int | None = None,
    check: bool = True,
    cache: Path | None = None,
    *,
    problems: Sequence[Problem] | None = None,
    workers: int = WORKERS,
    timeout: float = MUTANT_TIMEOUT_S,
) -> list[Mutant]:
    """At most one mutant per problem, in problem order, for the first ``limit`` problems.

    ``cache``: read the set from this JSON file when it was made with the same settings, else
    generate and write it there. None (the default) touches no file, so tests stay hermetic.
    """
    pool = tuple(load_problems() if problems is None else problems)[:limit]
    header = _header(seed, limit, check, pool)
    if cache is not None and (cached := _read_cache(cache, header, pool)) is not None:
        return cached
    started = time.monotonic()

    def one(problem: Problem) -> Mutant | None:
        return mutate_problem(problem, seed, check=check, timeout=timeout)

    results: list[Mutant | None] = []
    with ThreadPoolExecutor(max_workers=workers) as executor:
        for done, mutant in enumerate(executor.map(one, pool), 1):
            results.append(mutant)
            if check and (done % 20 == 0 or done == len(pool)):
                kept = sum(result is not None for result in results)
                elapsed = time.monotonic() - started
                print(
                    f"b3: {done}/{len(pool)} problems, {kept} mutants, {elapsed:.0f}s",
                    file=sys.stderr,
                    flush=True,
                )
    mutants = [mutant for mutant in results if mutant is not None]
    if cache is not None:
        save(cache, mutants, header)
    return mutants


def diff(mutant: Mutant) -> str:
    """Unified diff original -> buggy, as a reviewer of the published set reads it."""
    lines = difflib.unified_diff(
        mutant.original.splitlines(keepends=True),
        mutant.buggy.splitlines(keepends=True),
        fromfile=f"{mutant.task_id} (canonical)",
        tofile=f"{mutant.task_id} ({mutant.kind})",
        n=1,
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, help="only the first N problems")
    parser.add_argument("--json", type=Path, help="write the mutant set to this file")
    parser.add_argument("--show", type=int, default=0, metavar="N", help="print N diffs")
    parser.add_argument("--no-check", action="store_true", help="skip running the tests")
    parser.add_argument(
        "--cache",
        action="store_true",
        help="reuse/write benchmarks/results/b3_mutants-seed{seed}.json",
    )
    args = parser.parse_args(argv)
    started = time.monotonic()
    check = not args.no_check
    mutants = generate(args.seed, args.limit, check, cache_path(args.seed) if args.cache else None)
    elapsed = time.monotonic() - started
    if args.json:
        pool = load_problems()[: args.limit]
        save(args.json, mutants, _header(args.seed, args.limit, check, pool))
    counts = Counter(mutant.kind for mutant in mutants)
    for kind in KINDS:
        print(f"{kind:<18} {counts[kind]:>4}")
    considered = len(load_problems()[: args.limit])
    print(
        f"{'total':<18} {len(mutants):>4}  ({considered} problems, seed {args.seed}, "
        f"{elapsed:.1f}s)"
    )
    for mutant in mutants[: args.show]:
        print(f"\n# {mutant.task_id} {mutant.kind}: {mutant.description}")
        print(diff(mutant), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
