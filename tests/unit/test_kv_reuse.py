"""Golden cases of the KV chunk-reuse plan (pure; the real cache is exercised in
tests/model/test_engine_kv.py)."""

from __future__ import annotations

from lsp_server.engine.kv_reuse import Move, apply_to_record, plan


def test_a_deletion_in_the_middle_keeps_the_rest_by_moving_it():
    cached = list(range(100))
    prompt = list(range(40)) + list(range(50, 100))  # tokens 40-49 deleted
    p = plan(cached, prompt, min_run=16)
    assert p.moves == (Move(src=50, dst=40, n=49),)  # the last token is evaluated again
    assert p.kept == len(prompt) - 1
    assert apply_to_record(cached, p.moves, p.kept) == prompt[:-1]


def test_runs_shorter_than_the_minimum_are_evaluated():
    cached = list(range(100))
    prompt = list(range(40)) + list(range(50, 60)) + [999] * 5
    p = plan(cached, prompt, min_run=16)
    assert p.moves == () and p.kept == 40


def test_an_insertion_stops_the_reuse_at_the_new_text():
    cached = list(range(100))
    prompt = [*range(40), 999, *range(40, 100)]
    p = plan(cached, prompt, min_run=16)
    assert p.moves == () and p.kept == 40  # new text in between: nothing after it is kept


def test_several_runs_in_order_and_the_record_follows():
    cached = list(range(200))
    prompt = list(range(10)) + list(range(30, 80)) + list(range(120, 200)) + [7]
    p = plan(cached, prompt, min_run=20)
    assert p.moves == (Move(30, 10, 50), Move(120, 60, 80))
    assert p.kept == 140
    assert apply_to_record(cached, p.moves, p.kept) == prompt[:140]


def test_off_and_identical_prompts():
    cached = list(range(50))
    assert plan(cached, list(range(10)) + list(range(20, 50)), min_run=0).kept == 10
    same = plan(cached, cached, min_run=8)
    assert same.moves == () and same.kept == 49  # the last token again, for its logits
    assert plan([], [1, 2, 3], min_run=1).kept == 0
