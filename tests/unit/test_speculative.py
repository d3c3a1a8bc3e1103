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


def test_first_tie_finds_the_first_row_without_a_clear_winner():
    lead = speculative.TIE_MARGIN
    assert first_tie([lead * 4, lead * 2, lead * 3]) is None
    assert first_tie([lead * 4, lead / 2, lead / 3]) == 1
    assert first_tie([0.0]) == 0
    assert first_tie([]) is None
