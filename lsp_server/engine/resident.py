"""Prompt states of documents switched away from, kept in memory to be restored on return.

The KV cache holds one prompt. When a request for another document comes, the cache's state
(one sequence's cells, copied with ``llama_state_seq_get_data``: ~12 KiB a token for the 0.5B,
not ``Llama.save_state``, which also copies ~300 MB of logits) is parked here under its
document; coming back restores it (tens of milliseconds) instead of evaluating the window again
(~10-19 s for 2,000 tokens on a 2-core laptop). Least recently used states go first when the
memory budget (``residentStatesMb``) would be exceeded.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

# Closed documents remembered so their prompt is not parked when the cache lets go of it: only
# the document the cache holds can be parked, so a few recent closes are all that matter.
MAX_CLOSED = 256


@dataclass(frozen=True)
class State:
    tokens: tuple[int, ...]  # position -> token of the parked cells
    data: bytes  # llama.cpp's copy of the sequence


class ResidentStates:
    """An LRU of ``State`` per document key, bounded in bytes; thread-safe (the worker parks
    and restores, ``didClose`` forgets from the event loop)."""

    def __init__(self, budget_bytes: int) -> None:
        self.budget_bytes = budget_bytes
        self._states: OrderedDict[str, State] = OrderedDict()
        # documents closed since their prompt was last evaluated (oldest first, bounded)
        self._closed: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, key: str, state: State) -> None:
        with self._lock:
            self._states.pop(key, None)
            if len(state.data) > self.budget_bytes or key in self._closed:
                return
            self._states[key] = state
            while sum(len(s.data) for s in self._states.values()) > self.budget_bytes:
                self._states.popitem(last=False)

    def peek(self, key: str) -> State | None:
        """The state kept for ``key``, its place in the LRU untouched (a question, not a use)."""
        with self._lock:
            return self._states.get(key)

    def take(self, key: str) -> State | None:
        """The state kept for ``key``, no longer kept: it is about to be the cache's (and is
        parked again when its document is left)."""
        with self._lock:
            self._closed.pop(key, None)  # a closed document that came back is open again
            return self._states.pop(key, None)

    def forget(self, key: str) -> None:
        """``key``'s document closed: drop its state, and park none for it until it comes
        back (the cache may still hold its prompt)."""
        with self._lock:
            self._states.pop(key, None)
            self._closed[key] = None
            self._closed.move_to_end(key)
            while len(self._closed) > MAX_CLOSED:
                self._closed.popitem(last=False)

    def held(self) -> list[str]:
        """Least recently used first."""
        with self._lock:
            return list(self._states)

    def size_bytes(self) -> int:
        with self._lock:
            return sum(len(s.data) for s in self._states.values())


def save(ctx: object, seq: int = 0) -> bytes | None:
    """llama.cpp's copy of one sequence's cells (None when it cannot make one)."""
    import ctypes

    import llama_cpp.llama_cpp as low

    size = low.llama_state_seq_get_size(ctx, seq)
    if size <= 0:
        return None
    buffer = (ctypes.c_uint8 * size)()
    written = low.llama_state_seq_get_data(ctx, buffer, size, seq)
    return ctypes.string_at(buffer, written) if written > 0 else None  # one copy, no list


def load(ctx: object, data: bytes, seq: int = 0) -> bool:
    """Put a saved sequence back (its cells replace the sequence's); False when refused."""
    import ctypes

    import llama_cpp.llama_cpp as low

    source = ctypes.cast(ctypes.c_char_p(data), ctypes.POINTER(ctypes.c_uint8))  # read only
    return low.llama_state_seq_set_data(ctx, source, len(data), seq) > 0
