"""Fake chunk packages for the embedded-model tests: importable-looking, never to be imported."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path
from typing import Any

from lsp_server.model.default import Chunk, EmbeddedModel


def make_chunk_packages(site: Path, data: bytes, pieces: int = 3) -> tuple[Chunk, ...]:
    """Split ``data`` over packages in ``site``; their code raises if anything imports them."""
    tag = uuid.uuid4().hex[:8]  # unique names: importlib caches finders per name
    step = -(-len(data) // pieces)
    chunks = []
    for i in range(1, pieces + 1):
        module = f"fakechunk_{tag}_part{i}"
        (site / module / "data").mkdir(parents=True)
        (site / module / "__init__.py").write_text("raise RuntimeError('never import chunks')\n")
        piece = data[(i - 1) * step : i * step]
        (site / module / "data" / f"part{i:02d}.bin").write_bytes(piece)
        chunks.append(Chunk(f"fakechunk-{tag}-part{i}", module, f"data/part{i:02d}.bin"))
    return tuple(chunks)


def make_spec(chunks: tuple[Chunk, ...], data: bytes, **changes: Any) -> EmbeddedModel:
    """An embedded-model spec for ``data`` (override any field, e.g. a wrong sha256)."""
    fields: dict[str, Any] = {
        "selector": "tiny",
        "title": "Tiny test model",
        "filename": "tiny.gguf",
        "chunks": chunks,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "version": "1.0",
        "extra": "model",
    }
    fields.update(changes)
    return EmbeddedModel(**fields)
