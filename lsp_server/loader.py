"""Settings -> a ready engine: resolve the GGUF (joining the embedded default if needed), check
its FIM dialect, load it into llama.cpp; or, with ``engine`` set to a remote kind, connect the
remote engine (no weights here). Shared by the LSP server and the CLI."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

from lsp_server.engine.base import Engine
from lsp_server.engine.llama import LlamaEngine
from lsp_server.model.choice import (
    AUTO,
    DEFAULT_BUDGET_MS,
    Choice,
    Verdict,
    installed,
    machine_key,
    probe,
    remember,
    remembered,
)
from lsp_server.model.default import QWEN_05B, QWEN_15B
from lsp_server.model.resolve import MODEL_ENV, ResolvedModel, resolve_model
from lsp_server.settings import Settings

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]


@dataclass
class LoadedModel:
    resolved: ResolvedModel | None  # None for a remote engine
    engine: Engine
    remote: dict[str, object] | None = None  # what describes a remote engine
    choice: Choice | None = None  # what the ``model`` setting resolved to (embedded models)

    def describe(self) -> dict[str, object]:
        r = self.resolved
        if r is None:
            return {
                **(self.remote or {}),
                "dialect": self.engine.dialect.name,
                "nCtx": self.engine.n_ctx,
            }
        return {
            "path": str(r.path),
            "verified": r.verified,
            "source": r.source,
            "size": r.size,
            "dialect": r.dialect.name,
            "nCtx": self.engine.n_ctx,
            **({"choice": self.choice.describe()} if self.choice is not None else {}),
        }


def load_engine(settings: Settings, progress: Progress | None = None) -> LoadedModel:
    """Blocking (seconds): call it from the model worker thread, never the event loop."""
    if settings.engine != "local":
        from lsp_server.engine.remote.connect import connect  # deferred: remote only

        engine, description = connect(settings)
        return LoadedModel(None, engine, description)
    explicit = settings.explicit_model_path()
    if explicit or os.environ.get(MODEL_ENV, "").strip():
        return _load(settings, resolve_model(explicit or None, progress=progress))
    selector = settings.model.strip().lower()
    if selector != AUTO:
        loaded = _load(settings, resolve_model(None, progress=progress, embedded=selector))
        loaded.choice = Choice(settings.model, selector, "set by the model setting")
        return loaded
    return _load_auto(settings, progress)


def _load(settings: Settings, resolved: ResolvedModel) -> LoadedModel:
    engine = LlamaEngine(
        str(resolved.path),
        resolved.dialect,
        n_ctx=context_window(settings.context_size, resolved.metadata.context_length),
        n_threads=settings.effective_threads(),
        n_gpu_layers=settings.n_gpu_layers,
        reuse_min_tokens=settings.kv_reuse_min_tokens,
        resident_bytes=settings.resident_states_mb * 1024 * 1024,
    )
    return LoadedModel(resolved, engine)


def _load_auto(settings: Settings, progress: Progress | None) -> LoadedModel:
    """``model: auto``: the 1.5B when installed and fast enough here (see ``model.choice``)."""
    big = QWEN_15B
    budget = float(settings.max_time_ms or DEFAULT_BUDGET_MS)
    if not installed(big):
        reason = f"{big.title} not installed ({big.install_command})"
        return _small(settings, progress, Choice(AUTO, QWEN_05B.selector, reason))
    key = machine_key(big, settings.effective_threads(), settings.n_gpu_layers)
    verdict = remembered(key, budget)
    if verdict is not None and not verdict.ok:
        return _small(settings, progress, _too_slow(verdict, remembered_=True))
    loaded = _load(settings, resolve_model(None, progress=progress, embedded=big))
    if verdict is None:
        verdict = probe(loaded.engine, budget)
        remember(key, verdict)
        if not verdict.ok:
            loaded.engine.close()
            return _small(settings, progress, _too_slow(verdict, remembered_=False))
    loaded.choice = Choice(
        AUTO,
        big.selector,
        f"a keystroke takes ~{verdict.probe_ms:.0f} ms on this machine, within "
        f"{verdict.budget_ms:.0f} ms",
        verdict,
    )
    return loaded


def _too_slow(verdict: Verdict, remembered_: bool) -> Choice:
    how = "measured before" if remembered_ else "measured now"
    return Choice(
        AUTO,
        QWEN_05B.selector,
        f"the 1.5B would take ~{verdict.probe_ms:.0f} ms a keystroke here ({how}), over "
        f"{verdict.budget_ms:.0f} ms (maxTimeMs)",
        verdict,
    )


def _small(settings: Settings, progress: Progress | None, choice: Choice) -> LoadedModel:
    loaded = _load(settings, resolve_model(None, progress=progress, embedded=QWEN_05B))
    loaded.choice = choice
    log.info("model auto: %s (%s)", choice.picked, choice.reason)
    return loaded


def context_window(requested: int, trained: int | None) -> int:
    """The context to allocate: ``contextSize``, but never past what the model was trained for
    (``<arch>.context_length``): llama.cpp aborts the whole process when a GPTBigCode model
    (learned position table) is asked for a position at or past it."""
    if trained and 0 < trained < requested:
        log.info("contextSize %d capped at the model's trained context %d", requested, trained)
        return trained
    return requested
