"""Settings -> a ready engine: resolve the GGUF (joining the embedded default if needed), check
its FIM dialect, load it into llama.cpp; or, with ``engine`` set to a remote kind, connect the
remote engine (no weights here). Shared by the LSP server and the CLI."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from lsp_server.engine.base import Engine
from lsp_server.engine.llama import LlamaEngine
from lsp_server.model.resolve import ResolvedModel, resolve_model
from lsp_server.settings import Settings

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]

# Settings whose change needs the model reloaded (the rest apply to the next request).
RELOAD_KEYS = (
    "model_path",
    "n_gpu_layers",
    "n_threads",
    "context_size",
    "engine",
    "remote_url",
    "remote_model",
    "remote_api_key_env",
    "remote_fim_dialect",
    "remote_vocab",
    "remote_timeout_ms",
    "remote_max_concurrent",
    "remote_redact",
)


@dataclass
class LoadedModel:
    resolved: ResolvedModel | None  # None for a remote engine
    engine: Engine
    remote: dict[str, object] | None = None  # what describes a remote engine

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
        }


def load_engine(settings: Settings, progress: Progress | None = None) -> LoadedModel:
    """Blocking (seconds): call it from the model worker thread, never the event loop."""
    if settings.engine != "local":
        from lsp_server.engine.remote.connect import connect  # deferred: remote only

        engine, description = connect(settings)
        return LoadedModel(None, engine, description)
    resolved = resolve_model(settings.model_path or None, progress=progress)
    engine = LlamaEngine(
        str(resolved.path),
        resolved.dialect,
        n_ctx=context_window(settings.context_size, resolved.metadata.context_length),
        n_threads=settings.effective_threads(),
        n_gpu_layers=settings.n_gpu_layers,
    )
    return LoadedModel(resolved, engine)


def context_window(requested: int, trained: int | None) -> int:
    """The context to allocate: ``contextSize``, but never past what the model was trained for
    (``<arch>.context_length``): llama.cpp aborts the whole process when a GPTBigCode model
    (learned position table) is asked for a position at or past it."""
    if trained and 0 < trained < requested:
        log.info("contextSize %d capped at the model's trained context %d", requested, trained)
        return trained
    return requested


def needs_reload(old: Settings, new: Settings) -> bool:
    return any(getattr(old, key) != getattr(new, key) for key in RELOAD_KEYS)
