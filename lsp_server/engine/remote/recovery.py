"""What a llama-server engine is after a restart: asked again (``/props``) once per recovery,
when it answers after an outage or refuses the slot this process keeps to. A restart may bring
fewer slots (the pin is picked again by the ``remoteSlot`` rule, or dropped), another context
per slot, or another model: then the prompts in the old FIM dialect and vocabulary must stop,
and the engine is connected again (``RemoteEngine`` tells ``on_health`` "changed").

An engine that does not answer ``/props`` now (an older build, a proxy) keeps the dialect it
was connected with, unpinned, said in one log line.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass

from lsp_server.engine.remote.discover import Discovered
from lsp_server.engine.remote.http import RemoteError

log = logging.getLogger(__name__)

# An error that refuses the slot id sent. Current llama-server never does (it wraps an id it
# lacks around its slots: 5 on 2 slots is slot 1); older builds put such a request off
# forever, which ends in the outage path (the pin goes with the outage).
SLOT_REFUSED = re.compile(r"\bid_slot\b|\bslot[ _-]?id\b|\b(invalid|unknown|no such) slot\b", re.I)


@dataclass(frozen=True)
class Rediscovery:
    """What ``connect`` knows and ``RemoteEngine`` needs to ask again."""

    ask: Callable[[], Discovered]  # the engine's /props (``discover.llama_server``): never raises
    slot: Callable[[Discovered], int | None]  # the ``remoteSlot`` rule (``connect._slot``)
    n_ctx: int  # ``contextSize``: a slot's context is capped by it
    model: str  # what the engine served at connect ("" = not said)


@dataclass(frozen=True)
class Rediscovered:
    slot: int | None  # the slot to keep to now (None: not pinned)
    n_ctx: int  # a slot's context now (0: not said, keep it)
    changed: str = ""  # the engine serves another model: why it must be connected again


def ask_again(how: Rediscovery, url: str) -> Rediscovered:
    """``/props`` asked again, and what follows from it; one log line."""
    found = how.ask()
    where = f"the engine at {url}"
    if found.unreachable:
        log.warning("%s: /props not answered (%s); not pinned", where, found.unreachable)
        return Rediscovered(None, 0)
    if found.model and how.model and found.model != how.model:
        return Rediscovered(None, 0, f"{where} now serves {found.model} (was {how.model})")
    slot = how.slot(found)  # says itself when the setting's slot is out of range now
    n_ctx = min(how.n_ctx, found.n_ctx) if found.n_ctx else 0
    log.info(
        "%s, asked again: %s slots%s, %s%s", where, found.total_slots or "no",
        f" of {found.n_ctx} tokens" if found.n_ctx else "",
        f"pinned to slot {slot}" if slot is not None else "not pinned",
        "".join(f"; {note}" for note in found.notes),
    )  # fmt: skip
    return Rediscovered(slot, n_ctx)


def refuses_slot(exc: RemoteError) -> bool:
    """Whether the engine answered (not a lost connection) that the slot id sent is wrong."""
    return not exc.unreachable and SLOT_REFUSED.search(str(exc)) is not None


class Recovery:
    """One engine's asking again: at most once per recovery (``outage`` opens the next one),
    never once it serves another model (``retired``: why it must be connected again)."""

    def __init__(self, how: Rediscovery | None) -> None:
        self.how = how
        self.retired = ""
        self._asked = False
        self._lock = threading.Lock()

    def outage(self) -> None:
        self._asked = False

    def ask(self, url: str) -> Rediscovered | None:
        """What the engine serves now; None when it is not to be asked (nothing to ask with,
        asked since the last outage, retired)."""
        with self._lock:
            if self.how is None or self._asked or self.retired:
                return None
            self._asked = True
        found = ask_again(self.how, url)
        if found.changed:
            self.retired = f"{found.changed}; connecting again"
        return found
