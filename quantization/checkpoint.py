"""Reading a Hugging Face checkpoint folder: config.json and the weights, one tensor at a time.

Safetensors files are parsed here (an 8-byte header length, a JSON header, raw little-endian
data) and memory-mapped, so converting a 15B checkpoint never holds more than one tensor in
memory and needs neither torch nor the ``safetensors`` package; bf16 is widened to f32 with a
bit shift. ``pytorch_model*.bin`` checkpoints need torch (``torch.load(weights_only=True)``).
"""

from __future__ import annotations

import json
import mmap
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ConvertError

_ST_DTYPES: dict[str, Any] = {
    "F64": np.float64,
    "F32": np.float32,
    "F16": np.float16,
    "BF16": "bf16",
    "I64": np.int64,
    "I32": np.int32,
    "I16": np.int16,
    "I8": np.int8,
    "U8": np.uint8,
    "BOOL": np.bool_,
}


@dataclass(frozen=True)
class TensorRef:
    """Where one tensor of the checkpoint lives; ``load()`` reads it (float tensors as f32)."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    file: Path
    begin: int = 0
    end: int = 0

    def load(self) -> np.ndarray:
        if self.file.suffix == ".safetensors":
            return _read_safetensor(self)
        return _read_torch_tensor(self)


def read_config(folder: Path) -> dict[str, Any]:
    path = folder / "config.json"
    if not folder.exists():
        raise ConvertError(f"{folder}: no such checkpoint folder")
    if not folder.is_dir():
        raise ConvertError(f"{folder}: not a folder; pass the Hugging Face checkpoint FOLDER")
    if not path.is_file():
        raise ConvertError(
            f"{folder}: missing config.json; a Hugging Face checkpoint folder has config.json, "
            "the weights (model.safetensors or pytorch_model.bin) and tokenizer.json"
        )
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConvertError(f"{path}: unreadable JSON ({exc})") from exc
    if not isinstance(config, dict):
        raise ConvertError(f"{path}: expected a JSON object")
    return config


def _weight_files(folder: Path) -> list[Path]:
    """The checkpoint's weight files, safetensors preferred, shards via their index."""
    for index_name, single in (
        ("model.safetensors.index.json", "model.safetensors"),
        ("pytorch_model.bin.index.json", "pytorch_model.bin"),
    ):
        index = folder / index_name
        if index.is_file():
            weight_map = json.loads(index.read_text(encoding="utf-8")).get("weight_map", {})
            files = sorted({folder / f for f in weight_map.values()})
            missing = [f.name for f in files if not f.is_file()]
            if missing:
                raise ConvertError(f"{index}: shard(s) missing: {', '.join(missing)}")
            return files
        if (folder / single).is_file():
            return [folder / single]
    shards = sorted(folder.glob("*.safetensors"))
    if shards:
        return shards
    raise ConvertError(
        f"{folder}: no weights found (looked for model.safetensors, model.safetensors.index.json, "
        "pytorch_model.bin, pytorch_model.bin.index.json)"
    )


def list_tensors(folder: Path) -> dict[str, TensorRef]:
    """Every tensor of the checkpoint by its Hugging Face name, without reading the data."""
    found: dict[str, TensorRef] = {}
    for file in _weight_files(folder):
        refs = _safetensors_index(file) if file.suffix == ".safetensors" else _torch_index(file)
        for ref in refs:
            found[ref.name] = ref
    return found


# -- safetensors ------------------------------------------------------------------------------
def _safetensors_index(file: Path) -> Iterator[TensorRef]:
    with open(file, "rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            raise ConvertError(f"{file}: truncated safetensors file")
        (size,) = struct.unpack("<Q", head)
        if size > 100_000_000:
            raise ConvertError(f"{file}: not a safetensors file (header of {size} bytes)")
        try:
            header = json.loads(fh.read(size))
        except ValueError as exc:
            raise ConvertError(f"{file}: corrupt safetensors header ({exc})") from exc
    base = 8 + size
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] not in _ST_DTYPES:
            raise ConvertError(f"{file}: tensor {name} has unsupported dtype {info['dtype']}")
        begin, end = info["data_offsets"]
        yield TensorRef(name, tuple(info["shape"]), info["dtype"], file, base + begin, base + end)


def _read_safetensor(ref: TensorRef) -> np.ndarray:
    with open(ref.file, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        raw = mm[ref.begin : ref.end]
    kind = _ST_DTYPES[ref.dtype]
    if kind == "bf16":
        wide = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
        return wide.view(np.float32).reshape(ref.shape)
    array = np.frombuffer(raw, dtype=np.dtype(kind).newbyteorder("<")).reshape(ref.shape)
    return array.astype(np.float32) if array.dtype.kind == "f" else array.copy()


# -- pytorch_model.bin ----------------------------------------------------------------------
_TORCH_CACHE: dict[Path, dict[str, Any]] = {}


def _torch_state(file: Path) -> dict[str, Any]:
    if file not in _TORCH_CACHE:
        try:
            import torch
        except ImportError as exc:
            raise ConvertError(
                f"{file}: pytorch_model.bin checkpoints need torch "
                "(pip install 'infill-lsp[quantization]'), or save the model as safetensors"
            ) from exc
        _TORCH_CACHE.clear()  # one shard in memory at a time
        _TORCH_CACHE[file] = torch.load(file, map_location="cpu", weights_only=True, mmap=True)
    return _TORCH_CACHE[file]


def _torch_index(file: Path) -> Iterator[TensorRef]:
    for name, tensor in _torch_state(file).items():
        yield TensorRef(name, tuple(tensor.shape), str(tensor.dtype), file)


def _read_torch_tensor(ref: TensorRef) -> np.ndarray:
    tensor = _torch_state(ref.file)[ref.name]
    if tensor.is_floating_point():
        return tensor.float().numpy()
    return tensor.numpy()
