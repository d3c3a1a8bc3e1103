"""Text comparisons shared by the stages that diff a text against its previous version (the
incremental parse, the acceptance statistics' kept check)."""

from __future__ import annotations

from typing import AnyStr


def common_prefix(a: AnyStr, b: AnyStr) -> int:
    """Length of the common prefix of two texts or byte strings: a binary search of slice
    comparisons (each a memcmp), not a loop over characters in Python."""
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo
