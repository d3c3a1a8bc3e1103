"""KV bookkeeping of the real engine: what the cache holds is exactly what the model was given.

The engine reuses the cache across requests (longest common prefix, evaluated in chunks, cut by
cancellation and by the time cap); any drift between its record of the tokens and llama.cpp's
own cells would silently corrupt every later suggestion.
"""

from __future__ import annotations

import pytest

from lsp_server.engine.base import Cancelled, CancelToken, GenerationRequest
from lsp_server.loader import load_engine
from lsp_server.settings import Settings

pytestmark = pytest.mark.model

CODE = "def mean(values):\n    total = 0\n    for v in values:\n"
SUFFIX = "\n    return total / len(values)\n"


@pytest.fixture(scope="module")
def engine():
    return load_engine(Settings()).engine


def prompt(engine, prefix: str, head: str = "") -> list[int]:
    ids = engine.dialect.build(engine.tokenize(prefix), engine.tokenize(SUFFIX))
    return ids + engine.tokenize(head)


def assert_consistent(engine, given: list[int]) -> None:
    kept = engine.kv_tokens()
    assert kept == given[: len(kept)], "the cache holds tokens the model was not given"
    assert engine.kv_positions() == len(kept), "llama.cpp's cells differ from our record"


def test_cache_holds_exactly_the_prompt_and_the_evaluated_answer(engine):
    first = prompt(engine, CODE, "        ")
    gen = engine.generate(GenerationRequest(first, max_tokens=12), CancelToken())
    assert_consistent(engine, first + gen.tokens)
    # every prompt token is kept, and every generated token but (at most) the last
    assert len(engine.kv_tokens()) >= len(first) + len(gen.tokens) - 1


def test_typing_one_character_evaluates_only_the_changed_tail(engine):
    before = prompt(engine, CODE, "        total")
    engine.generate(GenerationRequest(before, max_tokens=4), CancelToken())
    after = prompt(engine, CODE, "        total +")
    cached = engine.kv_tokens()
    common = next(
        (i for i, (a, b) in enumerate(zip(cached, after, strict=False)) if a != b),
        min(len(cached), len(after)),
    )
    gen = engine.generate(GenerationRequest(after, max_tokens=4), CancelToken())
    assert gen.evaluated_tokens == len(after) - min(common, len(after) - 1)
    assert gen.evaluated_tokens <= 3
    assert_consistent(engine, after + gen.tokens)


def test_a_cancelled_prompt_leaves_a_consistent_cache(engine):
    long_prefix = "".join(f"x_{i} = {i} * {i}\n" for i in range(40)) + CODE
    given = prompt(engine, long_prefix)
    token = CancelToken()
    calls = {"n": 0}
    original = engine._llm.eval

    def eval_then_cancel(tokens):
        original(tokens)
        calls["n"] += 1
        if calls["n"] == 2:
            token.cancel("a newer keystroke")

    engine._llm.eval = eval_then_cancel
    try:
        with pytest.raises(Cancelled):
            engine.generate(GenerationRequest(given, max_tokens=8), token)
    finally:
        del engine._llm.eval
    assert 0 < len(engine.kv_tokens()) < len(given)
    assert_consistent(engine, given)
    # and the next request picks up from there
    gen = engine.generate(GenerationRequest(given, max_tokens=2), CancelToken())
    assert gen.evaluated_tokens < len(given)
    assert_consistent(engine, given + gen.tokens)


def test_time_cap_stops_generation(engine):
    given = prompt(engine, CODE, "        ")
    gen = engine.generate(GenerationRequest(given, max_tokens=64, max_time_ms=1), CancelToken())
    assert gen.finish == "time" and gen.generated_tokens == 1
    assert_consistent(engine, given + gen.tokens)


def test_a_banned_token_cannot_start_the_answer_even_after_whitespace(engine):
    """The re-decode's ban holds for as long as only whitespace was written: the model may not
    reach the forbidden line through a newline or an indentation first."""
    given = prompt(engine, CODE)  # no indentation typed: the model writes it itself
    free = engine.generate(GenerationRequest(given, max_tokens=8), CancelToken())
    lead = next(
        t for i, t in enumerate(free.tokens) if engine.detokenize(free.tokens[: i + 1]).strip()
    )
    banned = engine.generate(
        GenerationRequest(given, max_tokens=8, banned_first=frozenset({lead})), CancelToken()
    )
    assert free.text.strip() and banned.text.strip()
    content = [
        t for i, t in enumerate(banned.tokens) if engine.detokenize(banned.tokens[: i + 1]).strip()
    ]
    assert content and content[0] != lead
    assert_consistent(engine, given + banned.tokens)


def _consistent_positions(engine) -> None:
    import llama_cpp.llama_cpp as low

    memory = low.llama_get_memory(engine._llm._ctx.ctx)
    assert low.llama_memory_seq_pos_min(memory, 0) == 0
    assert engine.kv_positions() == len(engine.kv_tokens())


def test_a_deletion_moves_the_rest_of_the_prompt_instead_of_evaluating_it(engine):
    """KV chunk reuse: lines deleted from the middle of the prompt cost the tokens around the
    change; the cells after it are moved down to their new positions, and the record of
    which token sits where follows them exactly."""
    lines = [f"value_{i} = compute({i}, 'a longer line so the run is long')\n" for i in range(60)]
    before = prompt(engine, "".join(lines) + CODE)
    engine.generate(GenerationRequest(before, max_tokens=2), CancelToken())
    after = prompt(engine, "".join(lines[:10] + lines[16:]) + CODE)
    engine.reuse_min_tokens = 32
    try:
        gen = engine.generate(GenerationRequest(after, max_tokens=4), CancelToken())
    finally:
        engine.reuse_min_tokens = Settings().kv_reuse_min_tokens
    assert engine.moved_tokens > len(after) // 2
    assert gen.evaluated_tokens < 40, gen.evaluated_tokens
    assert_consistent(engine, after + gen.tokens)
    _consistent_positions(engine)
    # the same prompt again: everything is where the record says
    again = engine.generate(GenerationRequest(after, max_tokens=1), CancelToken())
    assert again.evaluated_tokens == 1 and engine.moved_tokens == 0


def test_a_warm_up_leaves_the_prompt_for_the_request(engine):
    given = prompt(engine, "".join(f"y_{i} = {i}\n" for i in range(30)) + CODE, "        ")
    warmed = engine.warm(GenerationRequest(given, max_tokens=8), CancelToken())
    assert warmed > 0
    assert engine.kv_tokens() == given
    gen = engine.generate(GenerationRequest(given, max_tokens=4), CancelToken())
    assert gen.evaluated_tokens == 1
    assert_consistent(engine, given + gen.tokens)


def test_switching_back_to_a_document_restores_its_state_exactly(engine):
    """Resident states: the cache's state is parked when another document's prompt comes and
    restored when the first document comes back: its prompt is not evaluated again, and the
    answer is the one a cache that never left would give (greedy)."""
    engine.residents.budget_bytes = 256 * 1024 * 1024
    a = prompt(engine, "".join(f"alpha_{i} = {i} + {i}\n" for i in range(40)) + CODE, "        ")
    b = prompt(engine, "".join(f"beta_{i} = {i} * 2\n" for i in range(40)) + CODE, "        ")
    first = engine.generate(GenerationRequest(a, max_tokens=8, key="/w/a.py"), CancelToken())
    engine.generate(GenerationRequest(b, max_tokens=8, key="/w/b.py"), CancelToken())
    assert "/w/a.py" in engine.residents.held()
    assert engine.pending(GenerationRequest(a, max_tokens=8, key="/w/a.py")) <= 1
    back = engine.generate(GenerationRequest(a, max_tokens=8, key="/w/a.py"), CancelToken())
    assert engine.restored_tokens >= len(a)
    assert back.evaluated_tokens <= 1
    assert back.text == first.text
    assert_consistent(engine, a + back.tokens)
    _consistent_positions(engine)
    engine.forget("/w/a.py")
    assert "/w/a.py" not in engine.residents.held()


def test_resident_states_stay_within_their_budget(engine):
    for key in engine.residents.held():
        engine.forget(key)
    engine.residents.budget_bytes = 1  # nothing fits: nothing is kept, nothing breaks
    for name in ("c", "d", "c"):
        text = "".join(f"{name}_{i} = {i}\n" for i in range(60)) + CODE
        given = prompt(engine, text)
        gen = engine.generate(
            GenerationRequest(given, max_tokens=2, key=f"/w/{name}.py"), CancelToken()
        )
        assert_consistent(engine, given + gen.tokens)
    assert engine.residents.held() == [] and engine.restored_tokens == 0
    engine.residents.budget_bytes = Settings().resident_states_mb * 1024 * 1024
