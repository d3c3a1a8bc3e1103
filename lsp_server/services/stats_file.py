"""The acceptance statistics file as the server keeps it: one owner of the ``StatsStore``
(events in, written off the request path), of the ``stats`` switch and of the store's totals
shown in ``infill/status`` (read in the background, at most every ``REFRESH_S``).

The tracker (``services.acceptance``) decides what the events are; this decides whether they
are kept. With ``stats: false`` nothing is written and no file is created (a file already there
stays until ``infill.deleteStats`` or ``infill-lsp stats --delete``).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable

from lsp_server.services.client import Client, warn_from_thread
from lsp_server.services.config import Config
from lsp_server.stats.store import StatsStore, StoreUnreadable
from lsp_server.stats.summary import Event, Totals, summarize

log = logging.getLogger("infill-lsp")

REFRESH_S = 60.0


class StatsFile:
    def __init__(
        self,
        client: Client,
        config: Config,
        store: StatsStore,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client, self.config, self.store, self.clock = client, config, store, clock
        self.stored: Totals | None = None  # the file's totals, as last read
        self._read_at = -math.inf
        self._reading = False
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def enabled(self) -> bool:
        return self.config.settings.stats

    def add(self, event: Event) -> None:
        if self.enabled:
            self.store.add(event)

    def start(self) -> None:
        """``initialized``: faults (told from the store's timer thread) go to the client."""
        self._loop = asyncio.get_running_loop()
        self.store.report = self._report

    def _report(self, message: str) -> None:
        """A store fault, from any thread: to the client, on the event loop."""
        warn_from_thread(self.client, self._loop, message, log)

    def settings_changed(self) -> None:
        if not self.enabled:
            self.store.discard()
            self.stored = None

    def describe(self) -> dict[str, object]:
        """The file's part of ``infill/status``'s ``acceptance``: ``stored`` is None until
        read (the first status asks for it) and while ``stats`` is off."""
        if self.enabled:
            self._read_later()
        return {
            "enabled": self.enabled,
            "path": str(self.store.path),
            "fault": self.store.fault,
            "stored": self.stored.to_wire() if self.enabled and self.stored is not None else None,
        }

    def _read_later(self) -> None:
        if self._reading or self.clock() - self._read_at < REFRESH_S:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._reading, self._read_at = True, self.clock()
        done = loop.run_in_executor(None, self._read)
        done.add_done_callback(lambda _f: setattr(self, "_reading", False))

    def _read(self) -> None:
        try:
            rows = self.store.suggestions()
        except StoreUnreadable as exc:
            log.info("stats not read: %s", exc)
            return
        self.stored = summarize(rows).get("all", Totals())

    async def delete(self) -> dict[str, object]:
        """``infill.deleteStats``: the file and what is pending."""
        deleted = await asyncio.get_running_loop().run_in_executor(None, self.store.delete)
        self.stored, self._read_at = None, -math.inf
        return {"deleted": deleted, "path": str(self.store.path)}

    def shutdown(self) -> None:
        """Write what is pending, unless ``stats`` was switched off meanwhile."""
        self.store.close(write=self.enabled)
