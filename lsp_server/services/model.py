"""The model: loading it (on the worker, with progress), its state, and a remote engine's
health. Owns the worker thread every model job runs on."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from lsprotocol import types

from lsp_server.engine.base import Engine
from lsp_server.engine.worker import ModelWorker
from lsp_server.loader import LoadedModel, load_engine
from lsp_server.model.resolve import ModelError
from lsp_server.services.client import Client, percent
from lsp_server.services.config import Config

log = logging.getLogger("infill-lsp")

# Pushed to the client on every change of state (status bars): {state, message, model}.
STATUS_CHANGED = "infill/statusChanged"


class ModelService:
    def __init__(self, client: Client, config: Config) -> None:
        self.client = client
        self.config = config
        self.worker = ModelWorker()
        self.loaded: LoadedModel | None = None
        self.state = "starting"  # starting | loading | ready | error | disabled
        self.message = ""
        self.health: dict[str, str] = {}  # a remote engine's last outage / recovery
        self._announced: tuple[str, str] | None = None
        self._load_task: asyncio.Task | None = None  # held so the task is not collected
        # Called when the loaded model is let go, so no one keeps it alive (set by Services:
        # the completion service drops its pipeline for the old engine).
        self.on_unload: Callable[[], None] = lambda: None

    @property
    def engine(self) -> Engine | None:
        return self.loaded.engine if self.loaded is not None else None

    def serving(self) -> bool:
        """Whether requests can run now (loaded and enabled)."""
        return self.loaded is not None and self.config.settings.enable

    def describe(self) -> dict[str, object] | None:
        return self.loaded.describe() if self.loaded is not None else None

    def set_state(self, state: str, message: str = "") -> None:
        """Change the model state and push it to the client (once per distinct state)."""
        self.state, self.message = state, message
        if self._announced == (state, message):
            return
        self._announced = (state, message)
        model = self.describe() if state == "ready" else None
        self.client.notify(STATUS_CHANGED, {"state": state, "message": message, "model": model})

    def start_load(self) -> None:
        """Load (or reload) in the background; a later call supersedes nothing already
        running: the worker runs loads in order."""
        self._load_task = asyncio.ensure_future(self.load())

    def settings_changed(self, reload: bool) -> None:
        """After new settings (once initialized): disable, reload, or say the state again."""
        if not self.config.settings.enable:
            self.set_state("disabled")
        elif self.state == "loading" and not reload:
            return  # the load under way takes the new settings when it finishes
        elif reload or self.loaded is None:
            self.start_load()
        else:
            self.set_state("ready", self.loaded.engine.name)

    async def load(self) -> None:
        """Load the model on the worker, reporting $/progress; never raises."""
        if not self.config.settings.enable:
            self.set_state("disabled")
            return
        # Let the old model go before the new one takes memory (llama.cpp frees it with the
        # last reference; a fix still running on it keeps it until it ends).
        self.loaded = None
        self.on_unload()
        self.set_state("loading")
        progress = await self.client.progress("infill-lsp: loading model")

        def report(done: int, total: int) -> None:
            if total:
                pct = percent(done, total)
                progress.report(f"preparing model {pct}%", pct)

        try:
            loaded = await asyncio.wrap_future(
                # the settings as they are when the job runs, not when it was queued
                self.worker.submit(lambda: load_engine(self.config.settings, report))
            )
        except (ModelError, ValueError, OSError) as exc:  # what a user can act on
            self.set_state("error", str(exc))
            self.client.tell(f"infill-lsp: {exc}")
        except Exception as exc:  # a llama.cpp failure we did not foresee: still never stuck
            log.exception("model load failed")
            self.set_state("error", f"model load failed: {exc}")
            self.client.tell(f"infill-lsp: {self.message}")
        else:
            self._ready(loaded)
        progress.end(self.state)

    def _ready(self, loaded: LoadedModel) -> None:
        loop = asyncio.get_running_loop()
        loaded.engine.on_health = lambda state, message: loop.call_soon_threadsafe(
            self._health, state, message
        )
        self.loaded = loaded
        self.set_state("ready", loaded.engine.name)
        self.client.log(f"model ready: {loaded.describe()}", types.MessageType.Info)

    def _health(self, state: str, message: str) -> None:
        """A remote engine went down (told once: requests then fail fast, quietly) or came
        back."""
        self.health = {"state": state, "message": message}
        if state == "down":
            self.client.tell(
                f"infill-lsp: {message}. Completions are paused and resume by themselves when "
                "the engine answers again.",
                types.MessageType.Warning,
            )
        else:
            self.client.tell(f"infill-lsp: {message}; completions resumed.", types.MessageType.Info)

    def shutdown(self) -> None:
        self.worker.cancel_all()
