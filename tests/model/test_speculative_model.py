"""Speculative decoding on the real model: the answer is the model's own greedy answer.

A verify batch is rounded differently from a one-token decode (llama.cpp's batched kernels), so
where the model's two best tokens are nearly tied the two paths may pick differently; the engine
decides such rows with a one-token decode (``speculative.TIE_MARGIN``). So: on real prompts the
texts must agree token for token, except that a divergence is allowed only at a near-tie of
plain decoding itself (the engine's own rounding noise: it happens between a warm and a cold
prompt evaluation too). A logic error (a wrong trim, an off-by-one in the agreed drafts) diverges
at confident tokens and fails.
"""

from __future__ import annotations

import sysconfig
from pathlib import Path

import numpy as np
import pytest

from lsp_server.engine.base import CancelToken, GenerationRequest
from lsp_server.engine.llama import LlamaEngine
from lsp_server.model.choice import installed
from lsp_server.model.default import QWEN_05B, QWEN_15B
from lsp_server.model.resolve import resolve_embedded

pytestmark = pytest.mark.model

NOISE = 0.5  # logits: a lead this small is within the engine's own rounding differences
SOURCE = Path(sysconfig.get_paths()["stdlib"]) / "textwrap.py"


def load(model, **options) -> LlamaEngine:
    resolved = resolve_embedded(model)
    return LlamaEngine(str(resolved.path), resolved.dialect, n_ctx=4096, **options)


@pytest.fixture(scope="module")
def small():
    engine = load(QWEN_05B)
    yield engine
    engine.close()


def prompts(engine: LlamaEngine) -> list[list[int]]:
    lines = SOURCE.read_text(encoding="utf-8").splitlines(keepends=True)
    out = []
    for at in (120, 200, 260, 330, 400):
        prefix, suffix = "".join(lines[at - 60 : at]), "".join(lines[at : at + 20])
        out.append(engine.dialect.build(engine.tokenize(prefix), engine.tokenize(suffix)))
    return out


def fresh_generate(engine: LlamaEngine, prompt: list[int], mode: str):
    engine.speculation = mode
    engine._trim(0)
    if engine.draft is not None:
        engine.draft._trim(0)
    return engine.generate(GenerationRequest(prompt, max_tokens=48), CancelToken())


def plain_lead(engine: LlamaEngine, prompt: list[int], answer: list[int]) -> float:
    """The lead of plain decoding's best token over the runner-up after ``answer``."""
    engine.speculation = "off"
    engine._trim(0)
    engine.generate(GenerationRequest(prompt + answer, max_tokens=1), CancelToken())
    engine._trim(len(prompt) + len(answer) - 1)
    engine._llm.eval(answer[-1:] or prompt[-1:])
    logits = np.ctypeslib.as_array(engine._llm._ctx.get_logits(), shape=(engine._n_vocab,))
    best_two = np.sort(logits)[-2:]
    return float(best_two[1] - best_two[0])


def assert_same_greedy_answers(engine: LlamaEngine, mode: str) -> None:
    drafted = agreed = 0
    for prompt in prompts(engine):
        plain = fresh_generate(engine, prompt, "off")
        fast = fresh_generate(engine, prompt, mode)
        drafted += engine.drafted_tokens
        agreed += engine.agreed_tokens
        # the cache holds exactly what the model was given and wrote, nothing drafted after it
        kept = engine.kv_tokens()
        assert kept == (prompt + fast.tokens)[: len(kept)]
        assert len(kept) <= len(prompt) + len(fast.tokens)
        if plain.tokens == fast.tokens:
            continue
        at = next(
            (i for i, (a, b) in enumerate(zip(plain.tokens, fast.tokens, strict=False)) if a != b),
            min(len(plain.tokens), len(fast.tokens)),
        )
        lead = plain_lead(engine, prompt, plain.tokens[:at])
        assert lead < NOISE, (
            f"{mode}: answers diverge at token {at} where plain decoding leads by {lead:.2f}: "
            f"{engine.detokenize(plain.tokens)!r} vs {engine.detokenize(fast.tokens)!r}"
        )
    assert drafted > 0 and agreed > 0, "nothing was drafted: the test checked nothing"


def test_prompt_lookup_gives_the_models_own_greedy_answer(small):
    assert_same_greedy_answers(small, "lookup")


@pytest.mark.skipif(not installed(QWEN_15B), reason="the 1.5B is not installed")
def test_the_small_model_drafting_for_the_big_one_gives_the_big_ones_greedy_answer():
    big = load(QWEN_15B, speculation="draft")
    assert big.attach_draft(load(QWEN_05B)) is None
    assert big.speculation.startswith("draft:")
    try:
        assert_same_greedy_answers(big, "draft")
    finally:
        big.close()
