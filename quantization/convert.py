"""Hugging Face StarCoder-family checkpoint -> GGUF (F32 or F16), with the ``gguf`` package.

Supported: ``GPTBigCodeForCausalLM`` (SantaCoder ``bigcode/gpt_bigcode-santacoder``, StarCoder,
StarCoderBase, tiny_starcoder; llama.cpp architecture ``starcoder``) and
``Starcoder2ForCausalLM`` (``starcoder2``). Tensor names come from gguf's own HF -> GGUF name
map (the one llama.cpp's ``convert_hf_to_gguf.py`` uses); metadata keys are the ones
llama.cpp's loader reads for those architectures. Tensors are streamed: read, cast, written and
dropped one at a time, into ``OUT.part`` renamed on success.

Layout notes: GPTBigCode's fused ``c_attn`` is ``[Q | K | V]`` when ``multi_query`` (every real
StarCoder), but interleaved per head (``[q_h k_h v_h]`` for each head) otherwise; the latter is
reordered to ``[Q | K | V]`` here, which llama.cpp expects. StarCoder2 uses NeoX-style (rotate
half) RoPE, which is llama.cpp's type for it, so Q/K need no permutation.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gguf
import numpy as np

from .checkpoint import TensorRef, list_tensors, read_config
from .errors import ConvertError
from .vocab import add_to_writer, read_vocab

ProgressFn = Callable[[int, int, str], None]

ARCHITECTURES: dict[str, gguf.MODEL_ARCH] = {
    "GPTBigCodeForCausalLM": gguf.MODEL_ARCH.STARCODER,
    "Starcoder2ForCausalLM": gguf.MODEL_ARCH.STARCODER2,
}
OUT_TYPES = {"f32": gguf.LlamaFileType.ALL_F32, "f16": gguf.LlamaFileType.MOSTLY_F16}
# llama.cpp computes GELU with the tanh approximation; "gelu" (erf) differs from it by < 1e-3.
GELU_NAMES = ("gelu_pytorch_tanh", "gelu_new", "gelu_fast", "gelu")
# Buffers some checkpoints carry that are not weights.
_SKIP = re.compile(r"(\.attn\.(masked_)?bias|\.rotary_emb\.inv_freq)$")


@dataclass
class ConvertResult:
    path: Path
    arch: str
    outtype: str
    n_tensors: int
    n_params: int
    size: int
    seconds: float
    pre_tokenizer: str
    fim_ids: dict[str, int]
    notes: list[str] = field(default_factory=list)


@dataclass
class _Planned:
    name: str  # GGUF name
    shape: tuple[int, ...]  # numpy order (HF order)
    load: Callable[[], np.ndarray]


def _need(config: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        if config.get(key) is not None:
            return config[key]
    raise ConvertError(f"config.json has no {' / '.join(keys)}")


def _check_act(config: dict[str, Any], key: str) -> None:
    act = config.get(key, "gelu_pytorch_tanh")
    if act not in GELU_NAMES:
        raise ConvertError(
            f"config.json {key}={act!r}: llama.cpp runs this architecture with GELU only"
        )


def _starcoder_meta(w: gguf.GGUFWriter, c: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    _check_act(c, "activation_function")
    if not c.get("scale_attn_weights", True):
        raise ConvertError("config.json scale_attn_weights=false is not supported by llama.cpp")
    if c.get("add_cross_attention"):
        raise ConvertError("config.json add_cross_attention=true: decoder-only models only")
    n_embd, n_head = _need(c, "n_embd", "hidden_size"), _need(c, "n_head", "num_attention_heads")
    mqa = bool(c.get("multi_query", True))
    w.add_context_length(_need(c, "n_positions", "max_position_embeddings"))
    w.add_embedding_length(n_embd)
    w.add_feed_forward_length(c.get("n_inner") or 4 * n_embd)
    w.add_block_count(_need(c, "n_layer", "num_hidden_layers"))
    w.add_head_count(n_head)
    w.add_head_count_kv(1 if mqa else n_head)
    w.add_layer_norm_eps(c.get("layer_norm_epsilon", 1e-5))
    if not mqa:
        notes.append("multi_query=false: c_attn reordered from per-head [q k v] to [Q K V]")
    return {"n_embd": n_embd, "n_head": n_head, "mqa": mqa}


def _starcoder2_meta(w: gguf.GGUFWriter, c: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    _check_act(c, "hidden_act")
    rope = c.get("rope_parameters") or {}
    scaling = c.get("rope_scaling") or {}
    kind = rope.get("rope_type") or scaling.get("rope_type") or scaling.get("type") or "default"
    if kind != "default":
        raise ConvertError(f"config.json rope scaling {kind!r} is not supported by this converter")
    theta = rope.get("rope_theta") or c.get("rope_theta") or 10000.0
    n_ctx = _need(c, "max_position_embeddings")
    w.add_context_length(n_ctx)
    w.add_embedding_length(_need(c, "hidden_size"))
    w.add_feed_forward_length(_need(c, "intermediate_size"))
    w.add_block_count(_need(c, "num_hidden_layers"))
    w.add_head_count(_need(c, "num_attention_heads"))
    w.add_head_count_kv(c.get("num_key_value_heads") or c["num_attention_heads"])
    w.add_rope_freq_base(float(theta))
    w.add_layer_norm_eps(c.get("norm_epsilon", 1e-5))
    window = c.get("sliding_window")
    if window and window < n_ctx:
        notes.append(
            f"sliding_window={window} < context {n_ctx}: no sliding-window key is written, so "
            "llama.cpp may attend beyond the window for contexts longer than it"
        )
    return {"use_bias": c.get("use_bias", True)}


def _interleaved_qkv(array: np.ndarray, n_head: int) -> np.ndarray:
    """Per-head ``[q_h k_h v_h]`` rows (GPTBigCode multi_query=false) -> ``[Q | K | V]``."""
    rest = array.shape[1:]
    head_dim = array.shape[0] // (3 * n_head)
    grouped = array.reshape(n_head, 3, head_dim, *rest).swapaxes(0, 1)
    return np.ascontiguousarray(grouped.reshape(3 * n_head * head_dim, *rest))


def _order(name: str) -> tuple[int, int, str]:
    match = re.match(r"blk\.(\d+)\.", name)
    if match:
        return (1, int(match.group(1)), name)
    return (0 if not name.startswith("output") else 2, 0, name)


def _plan(
    arch: gguf.MODEL_ARCH, config: dict[str, Any], info: dict[str, Any], refs: dict[str, TensorRef]
) -> list[_Planned]:
    n_blocks = int(_need(config, "n_layer", "num_hidden_layers"))
    tmap = gguf.get_tensor_name_map(arch, n_blocks)
    allowed = {gguf.TENSOR_NAMES[t] for t in gguf.MODEL_TENSORS[arch]}
    planned: list[_Planned] = []
    unknown: list[str] = []
    for hf_name, ref in refs.items():
        if _SKIP.search(hf_name):
            continue
        name = tmap.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        base = re.sub(r"blk\.\d+\.", "blk.{bid}.", name.rsplit(".", 1)[0]) if name else None
        if name is None or base not in allowed:
            unknown.append(hf_name)
            continue
        load = ref.load
        if arch == gguf.MODEL_ARCH.STARCODER and base == "blk.{bid}.attn_qkv" and not info["mqa"]:
            load = (lambda r: lambda: _interleaved_qkv(r.load(), info["n_head"]))(ref)
        planned.append(_Planned(name, ref.shape, load))
    if unknown:
        shown = ", ".join(sorted(unknown)[:8])
        raise ConvertError(f"checkpoint tensors this converter cannot map: {shown}")
    names = {p.name for p in planned}
    if arch == gguf.MODEL_ARCH.STARCODER2 and not info["use_bias"]:
        # llama.cpp's starcoder2 graph requires the biases; use_bias=false means zeros.
        for p in list(planned):
            stem = p.name.rsplit(".", 1)[0]
            if p.name.endswith(".weight") and len(p.shape) == 2 and f"{stem}.bias" not in names:
                zeros = (lambda n: lambda: np.zeros(n, dtype=np.float32))(p.shape[0])
                planned.append(_Planned(f"{stem}.bias", (p.shape[0],), zeros))
    for required in ("token_embd.weight", "output_norm.weight", "blk.0.attn_norm.weight"):
        if required not in names:
            raise ConvertError(f"checkpoint has no tensor for {required}: incomplete checkpoint?")
    return sorted(planned, key=lambda p: _order(p.name))


def convert(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    outtype: str = "f16",
    *,
    name: str | None = None,
    tokenizer_pre: str | None = None,
    progress: ProgressFn | None = None,
) -> ConvertResult:
    """Convert the HF checkpoint folder ``src`` to the GGUF file ``dst``."""
    started = time.perf_counter()
    folder, out = Path(src), Path(dst)
    if outtype not in OUT_TYPES:
        raise ConvertError(f"--outtype must be one of {', '.join(OUT_TYPES)} (got {outtype!r})")
    config = read_config(folder)
    archs = config.get("architectures") or [config.get("model_type", "?")]
    hf_arch = next((a for a in archs if a in ARCHITECTURES), None)
    if hf_arch is None:
        raise ConvertError(
            f"{folder}: unsupported architecture {', '.join(map(str, archs))}; this converter "
            f"handles the StarCoder family ({', '.join(ARCHITECTURES)}). For other models use "
            "llama.cpp's convert_hf_to_gguf.py"
        )
    arch = ARCHITECTURES[hf_arch]
    vocab = read_vocab(folder, config, tokenizer_pre)
    refs = list_tensors(folder)
    notes: list[str] = []
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_name(out.name + ".part")
    writer = gguf.GGUFWriter(part, gguf.MODEL_ARCH_NAMES[arch])
    try:
        meta = _starcoder_meta if arch == gguf.MODEL_ARCH.STARCODER else _starcoder2_meta
        info = meta(writer, config, notes)
        plan = _plan(arch, config, info, refs)
        writer.add_name(name or config.get("_name_or_path") or folder.name)
        writer.add_file_type(OUT_TYPES[outtype])
        add_to_writer(writer, vocab)
        dtypes = []
        for p in plan:
            dtype = np.float16 if outtype == "f16" and len(p.shape) >= 2 else np.float32
            dtypes.append(dtype)
            nbytes = int(np.prod(p.shape)) * np.dtype(dtype).itemsize
            writer.add_tensor_info(p.name, p.shape, np.dtype(dtype), nbytes)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        n_params = 0
        for i, (p, dtype) in enumerate(zip(plan, dtypes, strict=True)):
            array = np.ascontiguousarray(p.load(), dtype=dtype)
            if array.shape != tuple(p.shape):
                raise ConvertError(f"{p.name}: shape {array.shape} != header {p.shape}")
            writer.write_tensor_data(array)
            n_params += array.size
            if progress is not None:
                progress(i + 1, len(plan), f"{p.name} {list(p.shape)} {np.dtype(dtype).name}")
        writer.close()
        os.replace(part, out)
    except BaseException:
        writer.close()
        part.unlink(missing_ok=True)
        raise
    return ConvertResult(
        path=out,
        arch=gguf.MODEL_ARCH_NAMES[arch],
        outtype=outtype,
        n_tensors=len(plan),
        n_params=n_params,
        size=out.stat().st_size,
        seconds=time.perf_counter() - started,
        pre_tokenizer=vocab.pre,
        fim_ids=dict(vocab.fim_ids),
        notes=notes,
    )
