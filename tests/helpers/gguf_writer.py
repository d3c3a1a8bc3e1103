"""A tiny GGUF writer for test fixtures: header + key/value section (+ optional filler bytes).

Our own rather than the ``gguf`` package so the tests need nothing beyond pytest, and so tests
can also write deliberately broken files (bad magic, wrong version, truncated).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

T_UINT8, T_INT8, T_UINT16, T_INT16, T_UINT32, T_INT32, T_FLOAT32, T_BOOL = range(8)
T_STRING, T_ARRAY, T_UINT64, T_INT64, T_FLOAT64 = range(8, 13)

_FMT = {
    T_UINT8: "B",
    T_INT8: "b",
    T_UINT16: "H",
    T_INT16: "h",
    T_UINT32: "I",
    T_INT32: "i",
    T_FLOAT32: "f",
    T_BOOL: "?",
    T_UINT64: "Q",
    T_INT64: "q",
    T_FLOAT64: "d",
}


class Typed(NamedTuple):
    """A value with an explicit GGUF type; for arrays ``vtype`` is the element type."""

    vtype: int
    value: Any
    is_array: bool = False


def _infer(value: Any) -> int:
    if isinstance(value, bool):
        return T_BOOL
    if isinstance(value, int):
        return T_UINT32 if 0 <= value < 2**32 else T_INT64
    if isinstance(value, float):
        return T_FLOAT64
    if isinstance(value, str):
        return T_STRING
    if isinstance(value, (list, tuple)):
        return T_ARRAY
    raise TypeError(f"cannot infer a GGUF type for {value!r}")


def _string(text: str | bytes) -> bytes:
    raw = text.encode("utf-8") if isinstance(text, str) else text
    return struct.pack("<Q", len(raw)) + raw


def _scalar(vtype: int, value: Any) -> bytes:
    if vtype == T_STRING:
        return _string(value)
    return struct.pack("<" + _FMT[vtype], value)


def _array(etype: int, values: Sequence[Any]) -> bytes:
    out = struct.pack("<IQ", etype, len(values))
    if etype == T_ARRAY:
        return out + b"".join(_array(_element_type(v), v) for v in values)
    return out + b"".join(_scalar(etype, v) for v in values)


def _element_type(values: Sequence[Any]) -> int:
    return _infer(values[0]) if values else T_UINT32


def encode_value(value: Any) -> tuple[int, bytes]:
    """(type id, payload) of a value: inferred, or as given by ``Typed``."""
    if isinstance(value, Typed):
        if value.is_array:
            return T_ARRAY, _array(value.vtype, value.value)
        return value.vtype, _scalar(value.vtype, value.value)
    vtype = _infer(value)
    if vtype == T_ARRAY:
        return T_ARRAY, _array(_element_type(value), value)
    return vtype, _scalar(vtype, value)


def gguf_bytes(
    kv: Mapping[str, Any], *, version: int = 3, tensor_count: int = 0, magic: bytes = b"GGUF"
) -> bytes:
    parts = [magic, struct.pack("<IQQ", version, tensor_count, len(kv))]
    for key, value in kv.items():
        vtype, payload = encode_value(value)
        parts += [_string(key), struct.pack("<I", vtype), payload]
    return b"".join(parts)


def write_gguf(
    path: Path,
    kv: Mapping[str, Any],
    *,
    version: int = 3,
    tensor_count: int = 0,
    magic: bytes = b"GGUF",
    filler: bytes = b"",
) -> Path:
    """Write a GGUF header + metadata (and ``filler`` standing in for tensor data)."""
    path.write_bytes(
        gguf_bytes(kv, version=version, tensor_count=tensor_count, magic=magic) + filler
    )
    return path


def vocab_kv(
    tokens: Sequence[str],
    *,
    eos: str | None = None,
    bos: str | None = None,
    arch: str = "llama",
    name: str = "test model",
    **extra: Any,
) -> dict[str, Any]:
    """Metadata of a model with this vocabulary (eos/bos given by token text)."""
    kv: dict[str, Any] = {
        "general.architecture": arch,
        "general.name": name,
        "tokenizer.ggml.model": "gpt2",
        "tokenizer.ggml.tokens": list(tokens),
        "tokenizer.ggml.token_type": Typed(T_INT32, [1] * len(tokens), is_array=True),
    }
    if eos is not None:
        kv["tokenizer.ggml.eos_token_id"] = list(tokens).index(eos)
    if bos is not None:
        kv["tokenizer.ggml.bos_token_id"] = list(tokens).index(bos)
    kv.update(extra)
    return kv


QWEN_SPECIALS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|fim_prefix|>",
    "<|fim_middle|>",
    "<|fim_suffix|>",
    "<|fim_pad|>",
    "<|repo_name|>",
    "<|file_sep|>",
)


def qwen_like_kv(n_plain: int = 50, **extra: Any) -> dict[str, Any]:
    """A small Qwen2.5-Coder-shaped model: plain tokens, then its special tokens."""
    tokens = [f"tok{i}" for i in range(n_plain)] + list(QWEN_SPECIALS)
    return vocab_kv(
        tokens,
        eos="<|im_end|>",
        bos="<|endoftext|>",
        arch="qwen2",
        name="tiny qwen",
        **{"tokenizer.chat_template": "{{ messages }}", "tokenizer.ggml.add_bos_token": False},
        **extra,
    )
