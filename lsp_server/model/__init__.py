"""Finding, verifying and describing the GGUF model file (no llama.cpp needed here)."""

from .default import (
    DEFAULT_SELECTOR,
    EMBEDDED_MODELS,
    EmbeddedModel,
    ProgressFn,
    cache_dir,
    embedded_model,
    ensure_embedded,
)
from .errors import GGUFError, ModelError
from .gguf import GGUFMetadata, read_metadata
from .resolve import MODEL_ENV, ResolvedModel, resolve_model

__all__ = [
    "DEFAULT_SELECTOR",
    "EMBEDDED_MODELS",
    "MODEL_ENV",
    "EmbeddedModel",
    "GGUFError",
    "GGUFMetadata",
    "ModelError",
    "ProgressFn",
    "ResolvedModel",
    "cache_dir",
    "embedded_model",
    "ensure_embedded",
    "read_metadata",
    "resolve_model",
]
