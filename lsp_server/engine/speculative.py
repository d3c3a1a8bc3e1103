"""Speculative decoding: cheap guesses of the next tokens, checked by the model in one decode.

Greedy only. Each round the target model decodes ``[pending] + drafts`` in one batch with logits
for every row; row i's argmax is what the model itself would write after ``pending, d1..di``, so
the drafts are kept while they agree with it, and the first disagreeing row gives the next
``pending`` token for free. The output is the target's own greedy answer whatever the drafts
were; only the number of decodes changes.

Drafters (``speculation`` setting):
- ``lookup``: prompt lookup — the longest recent n-gram of the text so far that also occurs
  earlier (code repeats itself: a fixed function copies most of the broken one) proposes the
  tokens that followed it there. Costs nothing to draft.
- ``draft``: a small model with the same vocabulary (the 0.5B for the 1.5B) writes the drafts
  greedily; it keeps its own KV cache of the same prompt.

Whether it pays depends on the hardware: a verify batch of k tokens must cost much less than k
single decodes. On a 2-core CPU it costs ~2.4x one decode for k=4 (``benchmarks/b_engine_rates``),
so only drafts that are nearly always right (lookup on copied code) win there; on a GPU
verification is almost free.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

MODES = ("off", "lookup", "draft")
MAX_NGRAM = 4  # longest n-gram looked up (longer ones are rarer and add little)
MIN_NGRAM = 2  # a single token repeats too often to predict what follows
# Logit lead of the best token over the runner-up below which a verify row is not trusted: a
# k-token batch and a one-token decode round differently (up to ~0.1 logits measured on the
# 1.5B), which flips near-tied choices.
TIE_MARGIN = 0.25


def lookup(history: Sequence[int], k: int, *, window: int = 4096) -> list[int]:
    """Up to ``k`` tokens that followed the most recent earlier occurrence of the longest
    n-gram (``MAX_NGRAM`` down to ``MIN_NGRAM``) ending ``history``; [] when none occurs.
    Only the last ``window`` tokens are searched."""
    if k <= 0 or len(history) <= MIN_NGRAM:
        return []
    hist = np.asarray(history[-window:], dtype=np.int64)
    size = len(hist)
    for n in range(min(MAX_NGRAM, size - 1), MIN_NGRAM - 1, -1):
        tail = hist[size - n :]
        # starts of earlier occurrences (ending before the tail's last token, so each has a
        # continuation), most recent first
        starts = np.flatnonzero(hist[: size - n] == tail[0])
        for i in starts[::-1]:
            if np.array_equal(hist[i : i + n], tail):
                return hist[i + n : i + n + k].tolist()
    return []


def next_k(k: int, drafted: int, agreed_: int, k_max: int) -> int:
    """Draft length for the next round: doubled after a round the model agreed with entirely,
    else one more than what it agreed with (a wrong draft costs a wider verify batch)."""
    if drafted and agreed_ == drafted:
        return min(k_max, 2 * k)
    return max(1, min(k_max, agreed_ + 1))


def agreed(drafts: Sequence[int], predicted: Sequence[int]) -> int:
    """How many leading drafts the model agrees with (``predicted[i]`` is the model's token
    after the row that ends with ``drafts[i - 1]``)."""
    n = 0
    while n < len(drafts) and drafts[n] == predicted[n]:
        n += 1
    return n


def leads(rows: np.ndarray, best: Sequence[int], count: int) -> list[float]:
    """How far each of the first ``count`` rows' best logit (``best[i]``) leads its runner-up:
    only the rows in use (a partition of every row costs ~3 ms a round on a 152k vocabulary,
    a tenth of a decode)."""
    used = np.array(rows[:count], dtype=np.float32)
    index = np.arange(len(used))
    top = used[index, list(best[:count])]
    used[index, list(best[:count])] = -np.inf
    return (top - used.max(axis=1)).tolist()


def first_tie(margins: Sequence[float]) -> int | None:
    """The first row whose best token leads by less than ``TIE_MARGIN``; None if none."""
    for i, margin in enumerate(margins):
        if margin < TIE_MARGIN:
            return i
    return None


def vocabulary_mismatch(target, draft) -> str | None:
    """Why ``draft`` cannot draft for ``target`` (two ``llama_cpp.Llama``), or None when every
    token id spells the same bytes in both: a draft token must mean the same to the target."""
    if target.n_vocab() != draft.n_vocab():
        return f"vocabularies differ in size ({target.n_vocab()} vs {draft.n_vocab()} tokens)"
    t_model, d_model = target._model, draft._model
    for token in range(target.n_vocab()):
        if t_model.token_get_text(token) != d_model.token_get_text(token):
            a, b = t_model.token_get_text(token), d_model.token_get_text(token)
            return f"token {token} differs ({a!r} vs {b!r})"
    return None
