"""KV chunk reuse with position shift: which cached runs of tokens a new prompt can keep.

What llama.cpp's server does with ``--cache-reuse N``: after the prompt's common prefix with
the cache, walk the cached tokens and the new prompt together; each run of at least N cached
tokens that the prompt continues with (only at later positions, after cached text the prompt
dropped) is kept and moved to its new position, instead of being evaluated again. A jump that
deletes text from the middle of the prompt (the rest of a line deleted, the window's first lines
scrolled out) then costs the tokens around the change, not everything after it.

The moved cells were computed with other text before them, so this is an approximation (B1
measures its cost). ``plan`` is pure; ``LlamaEngine`` applies the moves to llama.cpp's cache
and to its own exact record of which token sits at which position.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Move:
    """Cells at cached positions [src, src + n) move to positions [dst, dst + n); dst < src."""

    src: int
    dst: int
    n: int


@dataclass(frozen=True)
class Plan:
    moves: tuple[Move, ...]
    kept: int  # prompt tokens whose cells are ready after the moves (the rest is evaluated)


def common_prefix(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def plan(cached: list[int], prompt: list[int], min_run: int) -> Plan:
    """The moves that keep the common prefix and then, walking both sequences greedily as
    llama-server does, each run of ``min_run``+ cached tokens the prompt continues with (in
    order; cached tokens the prompt dropped are skipped). The prompt's last token is never
    kept: it is evaluated again for the logits of the first new token."""
    limit = len(prompt) - 1
    head_p = common_prefix(cached, prompt[:limit])
    head_c = head_p
    moves: list[Move] = []
    if min_run <= 0:
        return Plan((), head_p)
    while head_c < len(cached) and head_p < limit:
        n = 0
        while (
            head_c + n < len(cached)
            and head_p + n < limit
            and cached[head_c + n] == prompt[head_p + n]
        ):
            n += 1
        if n >= min_run:
            moves.append(Move(head_c, head_p, n))
            head_p += n
            head_c += n
        else:
            head_c += 1
    return Plan(tuple(moves), head_p)


def apply_to_record(record: list[int], moves: tuple[Move, ...], kept: int) -> list[int]:
    """Our record of the cache after the moves: position -> token, ``kept`` positions long."""
    out = list(record)
    for move in moves:
        out[move.dst : move.dst + move.n] = record[move.src : move.src + move.n]
    return out[:kept]
