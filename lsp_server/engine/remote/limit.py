"""``remoteMaxConcurrent`` per engine, not per ``RemoteEngine`` object: every object on the same
engine URL in this process shares one limit (a settings reload builds a new object while the
old one may still be streaming; ``model: auto`` measures on another), and the limit is the one
set last. A request waiting for its turn wakes when it is cancelled (a newer keystroke) and is
then never sent.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

from lsp_server.engine.base import Cancelled, CancelToken


class Limiter:
    """Up to ``limit`` requests at once; a waiter gives up its place when cancelled."""

    def __init__(self, limit: int) -> None:
        self._cond = threading.Condition()
        self.limit = max(1, limit)
        self.active = 0

    def set_limit(self, limit: int) -> None:
        with self._cond:
            self.limit = max(1, limit)
            self._cond.notify_all()  # a higher limit lets waiters in at once

    def _wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    @contextmanager
    def hold(self, cancel: CancelToken) -> Iterator[None]:
        """One place, for the block; ``Cancelled`` (nothing held) when ``cancel`` fires
        before a place is free."""
        remove = cancel.on_cancel(self._wake)  # outside the lock: it may run at once
        try:
            with self._cond:
                while self.active >= self.limit and not cancel.cancelled:
                    self._cond.wait()
                if cancel.cancelled:
                    raise Cancelled(cancel.reason)
                self.active += 1
        finally:
            remove()
        try:
            yield
        finally:
            with self._cond:
                self.active -= 1
                # all: a woken waiter may have been cancelled meanwhile and leave the place
                self._cond.notify_all()


# Weak: an engine URL's limiter lives as long as an engine object on it, so the registry is
# bounded by the engines alive.
_LIMITERS: weakref.WeakValueDictionary[str, Limiter] = weakref.WeakValueDictionary()
_LOCK = threading.Lock()


def shared_limiter(key: str, limit: int) -> Limiter:
    """The limiter of the engine at ``key`` (its normalized URL), set to ``limit``."""
    with _LOCK:
        limiter = _LIMITERS.get(key)
        if limiter is None:
            limiter = _LIMITERS[key] = Limiter(limit)
    limiter.set_limit(limit)
    return limiter
