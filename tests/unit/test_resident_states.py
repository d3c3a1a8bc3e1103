"""The resident-state LRU: bounded in bytes, least recently parked out first, nothing parked
for a closed document (the real copy and restore of llama.cpp's cells is tested with the model
in tests/model/test_engine_kv.py)."""

from __future__ import annotations

from lsp_server.engine.resident import MAX_CLOSED, ResidentStates, State


def state(n: int) -> State:
    return State(tuple(range(n)), bytes(n))


def test_the_least_recently_parked_state_goes_first_when_the_budget_is_exceeded():
    states = ResidentStates(budget_bytes=250)
    states.put("a", state(100))
    states.put("b", state(100))
    states.put("a", state(100))  # parked again (the user came back and left): the newest
    states.put("c", state(100))
    assert states.held() == ["a", "c"] and states.size_bytes() == 200
    assert states.peek("a") is not None and states.held() == ["a", "c"]  # peek is no use


def test_taking_a_state_hands_it_over():
    states = ResidentStates(budget_bytes=1000)
    states.put("a", state(10))
    taken = states.take("a")
    assert taken is not None and taken.tokens == tuple(range(10))
    assert states.held() == [] and states.take("a") is None


def test_a_state_larger_than_the_budget_is_not_kept():
    states = ResidentStates(budget_bytes=50)
    states.put("big", state(100))
    assert states.held() == []
    states.put("a", state(10))
    states.put("a", state(20))  # replaced, not counted twice
    assert states.size_bytes() == 20


def test_nothing_is_parked_for_a_closed_document_until_it_comes_back():
    states = ResidentStates(budget_bytes=1000)
    states.put("a", state(10))
    states.forget("a")
    assert states.held() == []
    states.put("a", state(10))  # the cache still held its prompt when another came
    assert states.held() == []
    assert states.take("a") is None  # a request for it: open again
    states.put("a", state(10))
    assert states.held() == ["a"]


def test_the_closed_documents_remembered_are_bounded():
    """A day of opening and closing files must not grow the record of closed documents; the
    latest closes (the only ones the cache can still hold) are kept."""
    states = ResidentStates(budget_bytes=1000)
    for i in range(MAX_CLOSED * 4):
        states.forget(f"file{i}")
    assert len(states._closed) == MAX_CLOSED
    last = f"file{MAX_CLOSED * 4 - 1}"
    states.put(last, state(10))
    assert states.held() == []  # still known as closed
