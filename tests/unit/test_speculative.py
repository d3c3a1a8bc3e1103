"""Pure parts of speculative decoding (engine.speculative): the prompt-lookup drafter, how many
drafts the model agrees with, the draft length rule, the near-tie guard."""

from __future__ import annotations

import pytest

from lsp_server.engine import speculative
from lsp_server.engine.speculative import agreed, first_tie, lookup, next_k


@pytest.mark.parametrize(
    ("history", "k", "expected"),
    [
        # the longest n-gram ending the history (4 tokens) decides, most recent occurrence wins
        ([1, 2, 3, 4, 9, 8, 7, 1, 2, 3, 4, 5, 6, 1, 2, 3, 4], 3, [5, 6, 1]),
        # no 4- or 3-gram repeats: the 2-gram (8, 9) does
        ([8, 9, 5, 7, 1, 8, 9], 2, [5, 7]),
        # the continuation is cut at k and at the history's end
        ([1, 2, 7, 1, 2], 5, [7, 1, 2]),
        # nothing repeats (a single repeated token is not enough)
        ([1, 2, 3, 4, 5, 1], 4, []),
        ([1, 2], 4, []),
        ([1, 2, 3, 1, 2], 0, []),
    ],
)
def test_lookup_proposes_what_followed_the_same_tokens_before(history, k, expected):
    assert lookup(history, k) == expected


def test_lookup_searches_only_the_window():
    history = [5, 6, 7, *range(100, 200), 5, 6]
    assert lookup(history, 1) == [7]
    assert lookup(history, 1, window=50) == []


@pytest.mark.parametrize(
    ("drafts", "predicted", "n"),
    [
        ([4, 5, 6], [4, 5, 6, 7], 3),
        ([4, 5, 6], [4, 9, 6, 7], 1),
        ([4, 5, 6], [1, 5, 6, 7], 0),
        ([], [3], 0),
    ],
)
def test_agreed_counts_the_leading_drafts_the_model_would_write(drafts, predicted, n):
    assert agreed(drafts, predicted) == n


def test_draft_length_doubles_on_full_agreement_and_shrinks_to_what_was_agreed():
    assert next_k(4, 4, 4, 8) == 8
    assert next_k(8, 8, 8, 8) == 8  # capped
    assert next_k(8, 8, 2, 8) == 3
    assert next_k(4, 4, 0, 8) == 1  # never 0: the next round still drafts
    assert next_k(4, 2, 2, 8) == 8  # a short draft (the lookup had no more) fully agreed


def test_leads_are_the_best_logits_margin_over_the_runner_up_in_the_rows_used():
    import numpy as np

    rows = np.array([[0.0, 3.0, 1.0], [2.0, 2.1, -1.0], [5.0, 0.0, 0.0]], dtype=np.float32)
    assert speculative.leads(rows, [1, 1, 0], 2) == pytest.approx([2.0, 0.1])
    assert rows[0, 1] == 3.0  # the rows themselves are left as they were (llama.cpp's buffer)


def test_first_tie_finds_the_first_row_without_a_clear_winner():
    lead = speculative.TIE_MARGIN
    assert first_tie([lead * 4, lead * 2, lead * 3]) is None
    assert first_tie([lead * 4, lead / 2, lead / 3]) == 1
    assert first_tie([0.0]) == 0
    assert first_tie([]) is None


def test_a_draft_model_that_fails_to_load_leaves_the_model_serving_with_lookup(monkeypatch, caplog):
    """``speculation: draft`` is an accelerator: a draft that cannot load costs the drafts, never
    the model (one warning, prompt lookup instead)."""
    import logging
    from types import SimpleNamespace

    from lsp_server import loader
    from lsp_server.settings import Settings

    made = []

    class Engine:
        def __init__(self, path, dialect, **options):
            if path == "/m/0.5b.gguf":
                raise ValueError("Failed to load model from file: /m/0.5b.gguf")
            self.n_ctx, self.speculation, self.name = 4096, options["speculation"], "big"
            made.append(self)

        def attach_draft(self, draft):  # pragma: no cover - never reached
            raise AssertionError("a draft that failed to load was attached")

    def resolved(path):
        metadata = SimpleNamespace(context_length=32768)
        return SimpleNamespace(path=path, dialect=None, metadata=metadata, name=path)

    monkeypatch.setattr(loader, "LlamaEngine", Engine)
    monkeypatch.setattr(loader, "resolve_embedded", lambda _spec: resolved("/m/0.5b.gguf"))
    with caplog.at_level(logging.WARNING, logger="lsp_server.loader"):
        loaded = loader._load(Settings(speculation="draft"), resolved("/m/1.5b.gguf"))
    assert loaded.engine is made[0] and loaded.engine.speculation == "draft"
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 1 and "Failed to load model" in warned[0] and "prompt lookup" in warned[0]
