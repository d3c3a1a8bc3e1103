"""The model: loading it (on the worker, with progress), its state, a remote engine's health,
and ``model: auto``'s measurement of the 1.5B in idle time. Owns the worker thread every model
job runs on."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from lsprotocol import types

from lsp_server import loader
from lsp_server.engine.base import Cancelled, Engine, EngineError
from lsp_server.engine.worker import ModelWorker
from lsp_server.loader import LoadedModel
from lsp_server.model.choice import Choice, Verdict, failed, judged, retry_delay, untrusted
from lsp_server.model.resolve import ModelError, ResolvedModel
from lsp_server.services.client import Client, percent
from lsp_server.services.config import Config
from lsp_server.settings import Settings

log = logging.getLogger("infill-lsp")

# Pushed to the client on every change of state (status bars): {state, message, model}.
STATUS_CHANGED = "infill/statusChanged"
# ``model: auto`` without a trusted verdict measures the 1.5B once the worker has had no request
# (nor idle job) for this long; a request cancels the measurement, which waits for the next
# quiet period.
QUIET_S = 5.0
PROBE_KEY = "infill:auto-model"  # the measurement's worker key (an idle job: never a document)
# A remote engine not reachable when the server loads (down, or still loading its model): the
# load is tried again after these delays, the last one repeated.
REMOTE_RETRY_S = (2.0, 5.0, 10.0, 30.0)


class ModelService:
    def __init__(self, client: Client, config: Config) -> None:
        self.client = client
        self.config = config
        self.worker = ModelWorker()
        self.loaded: LoadedModel | None = None
        self.state = "starting"  # starting | loading | ready | error | disabled
        self.message = ""
        self.health: dict[str, str] = {}  # a remote engine's last outage / recovery
        self._announced: tuple[str, str, dict[str, object] | None] | None = None
        self._load_task: asyncio.Task | None = None  # held so the task is not collected
        # model: auto: the pending or running measurement of the 1.5B, the 1.5B loaded for it
        # (set and cleared on the worker thread), untrusted measurements this session
        self._measuring: asyncio.Task | None = None
        self._candidate: LoadedModel | None = None
        self._untrusted = 0
        self._loads = 0  # loads started: only the latest one's model may serve
        self._remote_tries = 0  # remote engines not reachable at load, in a row
        self._retry: asyncio.TimerHandle | None = None
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
        """Change the model state and push it to the client (once per distinct state and model
        description: a new ``model: auto`` choice is pushed too)."""
        self.state, self.message = state, message
        model = self.describe() if state == "ready" else None
        if self._announced == (state, message, model):
            return
        self._announced = (state, message, model)
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
        """Load the model on the worker, reporting $/progress; never raises.

        The model file is found and checked first (``loader.prepare``) while the model loaded
        before still serves; only then is that one let go, before the new one takes memory
        (llama.cpp frees it with the last reference; a fix still running on it keeps it until
        it ends). A reload whose file is missing or damaged thus leaves the old model serving.
        """
        if not self.config.settings.enable:
            self.set_state("disabled")
            return
        self._stop_measuring()
        self._untrusted = 0
        self._loads += 1
        this_load = self._loads
        self.set_state("loading")
        progress = await self.client.progress("infill-lsp: loading model")

        def report(done: int, total: int) -> None:
            if total:
                pct = percent(done, total)
                progress.report(f"preparing model {pct}%", pct)

        try:
            prepared = await asyncio.wrap_future(
                # the settings as they are when the job runs, not when it was queued
                self.worker.submit(lambda: loader.prepare(self.config.settings, report))
            )
            if this_load != self._loads:  # a newer load (settings changed meanwhile) goes on
                return
            self.loaded = None
            self.on_unload()
            loaded = await asyncio.wrap_future(
                self.worker.submit(lambda: loader.load_prepared(prepared))
            )
        except EngineError as exc:  # a remote engine not there (yet): tried again
            self._engine_failed(exc, this_load)
        except (ModelError, ValueError, OSError) as exc:  # what a user can act on
            self._failed(str(exc))
        except Exception as exc:  # a llama.cpp failure we did not foresee: still never stuck
            log.exception("model load failed")
            self._failed(f"model load failed: {exc}")
        else:
            if this_load == self._loads:
                self._ready(loaded)
            else:  # a newer load (settings changed meanwhile) supersedes this one
                loaded.engine.close()
        finally:
            progress.end(self.state)

    def _failed(self, message: str) -> None:
        """A load failed: said once. A model loaded before that still serves (the failure came
        before it was let go) goes on serving, and the message says so."""
        if self.loaded is None:
            self.set_state("error", message)
            self.client.tell(f"infill-lsp: {message}")
            return
        name = self.loaded.engine.name
        self.set_state("ready", name)
        self.client.tell(
            f"infill-lsp: {message} (the model loaded before, {name}, keeps serving)",
            types.MessageType.Warning,
        )

    def _engine_failed(self, exc: EngineError, this_load: int) -> None:
        """A remote engine failed to connect: an error, or (unreachable) tried again."""
        if not exc.unreachable:
            self._failed(str(exc))
            return
        delay = REMOTE_RETRY_S[min(self._remote_tries, len(REMOTE_RETRY_S) - 1)]
        self._remote_tries += 1
        self.set_state("error", f"{exc} (trying again in {delay:.0f} s)")
        if self._remote_tries == 1:
            self.client.tell(f"infill-lsp: {self.message}")
        self._retry = asyncio.get_running_loop().call_later(delay, self._retry_load, this_load)

    def _retry_load(self, load: int) -> None:
        """A remote engine was not there: load again, unless another load came meanwhile."""
        if load == self._loads:
            self.start_load()

    def _ready(self, loaded: LoadedModel) -> None:
        self._remote_tries = 0
        loop = asyncio.get_running_loop()
        engine = loaded.engine
        engine.on_health = lambda state, message: loop.call_soon_threadsafe(
            self._health, state, message, engine
        )
        self.loaded = loaded
        self.set_state("ready", loaded.engine.name)
        self.client.log(f"model ready: {loaded.describe()}", types.MessageType.Info)
        if loaded.choice is not None and loaded.choice.measuring:
            self._stop_measuring()
            self._measure_later(QUIET_S)

    def _health(self, state: str, message: str, engine: Engine | None = None) -> None:
        """A remote engine went down (told once: requests then fail fast, quietly), came
        back, or came back serving another model ("changed": it refuses requests, since its
        FIM dialect and vocabulary may differ; connected again, once)."""
        if engine is not None and engine is not self.engine:
            return  # an engine let go (a reload came meanwhile): not the one serving
        self.health = {"state": state, "message": message}
        if state == "changed":
            self.client.tell(f"infill-lsp: {message}; connecting again.", types.MessageType.Info)
            self.start_load()
        elif state == "down":
            self.client.tell(
                f"infill-lsp: {message}. Completions are paused and resume by themselves when "
                "the engine answers again.",
                types.MessageType.Warning,
            )
        else:
            self.client.tell(f"infill-lsp: {message}; completions resumed.", types.MessageType.Info)

    # model: auto without a trusted verdict: the 0.5B serves; the 1.5B is measured in idle time

    def _measure_later(self, delay_s: float) -> None:
        self._measuring = asyncio.ensure_future(self._measure(delay_s))

    async def _measure(self, delay_s: float) -> None:
        """After ``delay_s`` and then a quiet period: load the 1.5B (kept across cancelled
        tries), measure it as an idle job (any request cancels it: tried again after the next
        quiet period), and act on the verdict. Never raises: the 0.5B serves on whatever
        happens here."""
        await asyncio.sleep(delay_s)
        await self._quiet()
        settings, serving = self.config.settings, self.loaded
        try:
            candidate = self._candidate
            if candidate is None:
                resolved = await asyncio.to_thread(loader.resolve_candidate)
                candidate = await asyncio.wrap_future(
                    self.worker.submit(lambda: self._hold(settings, resolved))
                )
            engine = candidate.engine
            loop = asyncio.get_running_loop()

            def said(problem: str) -> None:  # from the worker thread
                loop.call_soon_threadsafe(self.client.log, problem, types.MessageType.Warning)

            verdict = await self.worker.run(
                PROBE_KEY, lambda token: loader.measure(engine, settings, token, said), idle=True
            )
        except Cancelled:
            self._measure_later(0.0)  # a request came: the next quiet period
            return
        except Exception as exc:  # a load or probe failure costs the 1.5B, never the server
            what = f"{type(exc).__name__}: {exc}"
            log.warning("model auto: the 1.5B could not be measured (%s); the 0.5B serves on", what)
            self._drop_candidate()
            self._choose(failed(what))
            return
        self._judge(verdict, serving)

    async def _quiet(self) -> None:
        """Until the worker has had no request for ``QUIET_S`` (and completions are on)."""
        while True:
            left = QUIET_S - self.worker.quiet_for()
            if left <= 0 and self.config.settings.enable:
                return
            await asyncio.sleep(left if left > 0 else QUIET_S)

    def _hold(self, settings: Settings, resolved: ResolvedModel) -> LoadedModel:
        """On the worker: load the 1.5B to measure, and hold it until it is judged (a reload
        closes it after this job, whether or not anyone still awaits it)."""
        self._candidate = loader.load_candidate(settings, resolved)
        return self._candidate

    def _judge(self, verdict: Verdict, serving: LoadedModel | None) -> None:
        """A measurement ended: switch to the 1.5B (a trusted verdict that it fits), keep the
        0.5B (too slow), or measure again later (not trusted: a busy machine, odd rates).
        Nothing switches when the model serving is no longer the one measured for (a reload
        came meanwhile)."""
        if self.loaded is not serving or serving is None:
            self._drop_candidate()
            return
        if not verdict.trusted:
            self._untrusted += 1
            delay = retry_delay(self._untrusted)
            choice = untrusted(verdict, delay)
            log.warning("model auto: %s (%s)", choice.reason, verdict.summary())
            self._drop_candidate()
            self._choose(choice)
            if delay is not None:
                self._measure_later(delay)
            return
        choice = judged(verdict, "measured now")
        log.info("model auto: %s (%s)", choice.reason, verdict.summary())
        big, old = self._candidate, self.loaded
        if not verdict.ok or big is None or old is None:
            self._drop_candidate()
            self._choose(choice)
            return
        # Switch without a restart: requests from now on get the 1.5B. The 0.5B is let go, not
        # closed: llama.cpp frees it with the last reference, after any fix that still holds it.
        self._candidate = None
        big.choice = choice
        self.loaded = big
        self.on_unload()
        self._announce()
        self.client.log(f"model switched: {big.describe()}", types.MessageType.Info)

    def _choose(self, choice: Choice) -> None:
        """The model serving stays; what ``auto`` says about it changes."""
        if self.loaded is not None:
            self.loaded.choice = choice
        self._announce()

    def _announce(self) -> None:
        """Push the serving model's description again (status bars), when it is serving."""
        if self.state == "ready" and self.loaded is not None:
            self.set_state("ready", self.loaded.engine.name)

    def _drop_candidate(self) -> None:
        """Close the 1.5B held for measuring, on the worker (after any job still using it)."""

        def close() -> None:
            candidate, self._candidate = self._candidate, None
            if candidate is not None:
                candidate.engine.close()

        self.worker.submit(close)

    def _stop_measuring(self) -> None:
        """A reload or shutdown: no measurement pending, nothing held for one."""
        if self._measuring is not None:
            self._measuring.cancel()  # a running probe's token is set by the worker
            self._measuring = None
            self._drop_candidate()

    def shutdown(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
        self._stop_measuring()
        self.worker.cancel_all()
