"""The resident-state LRU: bounded in bytes, least recently used out first (the real copy and
restore of llama.cpp's cells is tested with the model in tests/model/test_engine_kv.py)."""

from __future__ import annotations

from lsp_server.engine.resident import ResidentStates, State


def state(n: int) -> State:
    return State(tuple(range(n)), bytes(n))


def test_the_least_recently_used_state_goes_first_when_the_budget_is_exceeded():
    states = ResidentStates(budget_bytes=250)
    states.put("a", state(100))
    states.put("b", state(100))
    assert states.get("a") is not None  # a is now the most recently used
    states.put("c", state(100))
    assert states.held() == ["a", "c"] and states.size_bytes() == 200


def test_a_state_larger_than_the_budget_is_not_kept_and_forget_frees():
    states = ResidentStates(budget_bytes=50)
    states.put("big", state(100))
    assert states.held() == []
    states.put("a", state(10))
    states.put("a", state(20))  # replaced, not counted twice
    assert states.size_bytes() == 20
    states.forget("a")
    assert states.held() == [] and states.get("a") is None
