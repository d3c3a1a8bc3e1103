"""Which model file to load, checked before llama.cpp ever sees it.

Order: an explicit path (``--model`` flag or the ``modelPath`` setting), then the
``INFILL_LSP_MODEL`` environment variable, then the embedded default. A path the user gave
always wins, and a bad one is an error rather than a silent fall-back to the default: a user
who asked for their model should be told why they are not getting it.

Every file is read as GGUF, must hold all of its tensor data and must carry FIM tokens here,
because llama.cpp on a non-GGUF or truncated file fails with an unhelpful message (or aborts the
process), and a model without FIM tokens would "work" while producing useless completions.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..prompt.fim import FimDialect, describe_supported, detect_dialect
from .default import DEFAULT_SELECTOR, EmbeddedModel, ProgressFn, embedded_model, ensure_embedded
from .errors import GGUFError, ModelError, TruncatedGGUF
from .gguf import GGUFMetadata, check_complete, read_metadata

MODEL_ENV = "INFILL_LSP_MODEL"

_LABELS = {
    "setting": "the modelPath setting / --model flag",
    "env": f"the {MODEL_ENV} environment variable",
    "embedded": "the embedded default model",
}


@dataclass(frozen=True)
class ResolvedModel:
    """A model file ready to load: where it came from, what it is, how to prompt it."""

    path: Path  # absolute
    source: str  # "setting" | "env" | "embedded"
    verified: bool  # True: checksum-verified embedded model; False: a user's own file
    size: int
    metadata: GGUFMetadata
    dialect: FimDialect

    @property
    def name(self) -> str:
        """A human name for logs and status messages."""
        return self.metadata.model_name or self.path.stem


def dialect_for(metadata: GGUFMetadata, path: Path, source: str) -> FimDialect:
    """The model's FIM dialect, or a ModelError saying what kind of model is needed."""
    dialect = detect_dialect(
        metadata.tokens, metadata.eos_id, eot_id=metadata.eot_id, fim_ids=metadata.fim_ids
    )
    if dialect is not None:
        return dialect
    what = metadata.model_name or metadata.architecture or "this model"
    reason = (
        "has no tokenizer vocabulary in its metadata"
        if not metadata.tokens
        else "has no fill-in-the-middle tokens"
    )
    raise ModelError(
        f"{path} ({what}, from {_LABELS[source]}) {reason}, so it cannot complete code at the "
        f"cursor. Use a code model with FIM tokens; supported dialects: {describe_supported()}."
    )


def _user_file(raw: str | os.PathLike[str], source: str) -> ResolvedModel:
    label = _LABELS[source]
    path = Path(raw).expanduser().absolute()
    if not path.exists():
        raise ModelError(
            f"Model file not found: {path} (from {label}). Fix the path, or clear it to use "
            f"the embedded default model."
        )
    if path.is_dir():
        raise ModelError(f"{path} (from {label}) is a directory; point it at a .gguf model file.")
    try:
        metadata = read_metadata(path)
        check_complete(path, metadata)
    except TruncatedGGUF as exc:
        raise ModelError(
            f"{exc} (from {label}). The model file is damaged or incomplete (cut off while "
            f"being copied or downloaded, or changed on disk): copy it again, or clear the "
            f"path to use the embedded default model."
        ) from exc
    except GGUFError as exc:
        raise ModelError(
            f"{exc} (from {label}). infill-lsp loads GGUF files; convert the model with "
            f"llama.cpp's convert_hf_to_gguf.py (see quantization/)."
        ) from exc
    return ResolvedModel(
        path=path,
        source=source,
        verified=False,
        size=path.stat().st_size,
        metadata=metadata,
        dialect=dialect_for(metadata, path, source),
    )


def resolve_model(
    explicit: str | os.PathLike[str] | None,
    *,
    progress: ProgressFn | None = None,
    embedded: str | EmbeddedModel = DEFAULT_SELECTOR,
    cache: Path | None = None,
) -> ResolvedModel:
    """Pick, check and describe the model to load (explicit path > env > embedded default).

    ``explicit`` of None or "" means "not set" (the setting's default). ``progress`` sees
    ``(done_bytes, total_bytes)`` while the embedded model is joined or re-verified; ``embedded``
    selects which embedded model ("0.5b" or "1.5b") is the fall-back.
    """
    if explicit is not None and str(explicit).strip():
        return _user_file(str(explicit).strip(), "setting")
    from_env = os.environ.get(MODEL_ENV, "").strip()
    if from_env:
        return _user_file(from_env, "env")
    spec = embedded if isinstance(embedded, EmbeddedModel) else embedded_model(embedded)
    return resolve_embedded(spec, progress=progress, cache=cache)


def resolve_embedded(
    spec: EmbeddedModel, *, progress: ProgressFn | None = None, cache: Path | None = None
) -> ResolvedModel:
    """The embedded model ``spec`` (joined and verified if needed), whatever paths are set:
    ``model: auto`` measures the 1.5B this way."""
    path = ensure_embedded(spec, progress=progress, cache=cache).absolute()
    metadata = read_metadata(path)
    return ResolvedModel(
        path=path,
        source="embedded",
        verified=True,
        size=spec.size,
        metadata=metadata,
        dialect=dialect_for(metadata, path, "embedded"),
    )
