"""What proves the converter right: llama.cpp's logits and tokens vs transformers' on the same
input, for tiny random checkpoints converted and quantized by this package.

- Logits: one FIM prompt (``<fim_prefix>`` + 120 tokens of code + ``<fim_suffix>`` + 60 tokens
  + ``<fim_middle>``, code from CPython's ``textwrap.py``) through transformers (float32) and
  through llama.cpp (F32 KV cache, so the cache adds no rounding of its own); every position's
  logits are compared (the next-token logits at the end are reported separately).
- ggml computes GELU through a float16 lookup table (``GGML_GELU_FP16``): the table alone moves
  the logits by ~1e-3 at the tiny models' logit scale (std ~1.6). F32 files are therefore also
  compared against transformers with its GELU module replaced by that table's arithmetic
  (x rounded to f16, tanh-GELU, result rounded to f16): that isolates the conversion itself.
- Tokenizer: llama.cpp's ``tokenize`` vs ``AutoTokenizer.encode`` on ``ROUND_TRIP_TEXTS``, and
  ``detokenize`` back to the same bytes.

Needs torch + transformers (the ``quantization`` extra) and llama-cpp-python.
"""

from __future__ import annotations

import sysconfig
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

# Documented tolerances (logit errors over all positions, top-1 agreement) at the
# tiny models' logit scale (std ~1.6, max ~7). Measured values are in quantization/README.md.
F32_TOL_GGML_GELU = 1e-3  # vs transformers with ggml's f16 GELU table: the converter itself
# type -> (max abs error, mean abs error, min top-1 agreement) vs plain transformers; about twice
# the largest value measured over the tiny GPTBigCode (MQA and MHA) and Starcoder2 models.
TOLERANCES: dict[str, tuple[float, float, float]] = {
    "F32": (5e-3, 1e-3, 0.98),
    "F16": (0.02, 3e-3, 0.98),
    "Q8_0": (0.3, 0.05, 0.9),
    "Q6_K": (0.75, 0.13, 0.8),
    "Q5_K_M": (1.5, 0.22, 0.7),
    "Q4_K_M": (2.0, 0.4, 0.55),
    "Q4_0": (2.5, 0.55, 0.5),
}

ROUND_TRIP_TEXTS = (
    "def add(a, b):\n    return a + b\n",
    "for i in range(10):\n\tprint(i ** 2, 3.14159, 0x1F, 1_000_000)\n",
    "class Foo(Bar):\n    '''Docstring.'''\n\n    def __init__(self):\n        self.x = []  # ok\n",
    "    \n\n\n        x = {'a': 1, \"b\": [1, 2, 3]}\r\n",
    "const f = async (x) => { await g(x?.y ?? 42); };\n",
    "naïve = 'café'; 变量 = \"中文\"; emoji = '🚀✨'\n",
    "if x>=10 and y!=-3: return x//y%7 << 2 | ~z\n",
    "   leading spaces and trailing   ",
    "",
    "123456789 0.5e-10 +1 -2",
)


@dataclass
class ParityRow:
    kind: str
    qtype: str
    n_tokens: int
    max_abs: float
    mean_abs: float
    last_max_abs: float
    top1: float
    logit_std: float
    max_abs_ggml_gelu: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def code_sample() -> str:
    path = Path(sysconfig.get_paths()["stdlib"]) / "textwrap.py"
    return path.read_text(encoding="utf-8")


def fim_prompt_ids(tokenizer: Any) -> list[int]:
    """``<fim_prefix>`` + 120 code tokens + ``<fim_suffix>`` + 60 tokens + ``<fim_middle>``."""
    ids = tokenizer.encode(code_sample()[:6000], add_special_tokens=False)
    vocab = tokenizer.get_vocab()
    pre, suf, mid = (vocab[t] for t in ("<fim_prefix>", "<fim_suffix>", "<fim_middle>"))
    return [pre, *ids[:120], suf, *ids[200:260], mid]


def hf_logits(model: Any, ids: list[int], ggml_gelu: bool = False) -> np.ndarray:
    import torch
    from transformers import activations

    patched: list[tuple[Any, Any]] = []
    if ggml_gelu:
        for module in model.modules():
            if isinstance(module, activations.GELUTanh):
                patched.append((module, module.forward))
                module.forward = _ggml_gelu
    try:
        with torch.no_grad():
            return model(torch.tensor([ids])).logits[0].float().numpy()
    finally:
        for module, forward in patched:
            module.forward = forward


def _ggml_gelu(x: Any) -> Any:
    """ggml's CPU GELU: a lookup table indexed by f16(x) holding f16(gelu_tanh(x))."""
    import torch

    y = torch.nn.functional.gelu(x.half().float(), approximate="tanh").half().float()
    return torch.where(x <= -10, torch.zeros_like(x), torch.where(x >= 10, x, y))


def load_llama(path: Path, n_ctx: int = 512, logits_all: bool = True) -> Any:
    import llama_cpp

    from lsp_server.engine.llama import open_llama

    return open_llama(
        str(path),
        n_ctx=n_ctx,
        n_threads=2,
        logits_all=logits_all,
        type_k=llama_cpp.GGML_TYPE_F32,
        type_v=llama_cpp.GGML_TYPE_F32,
    )


def gguf_logits(path: Path, ids: list[int]) -> np.ndarray:
    llm = load_llama(path)
    try:
        llm.eval(ids)
        return np.array(llm.scores[: len(ids)], dtype=np.float32)
    finally:
        llm.close()


def compare(
    kind: str, qtype: str, got: np.ndarray, ref: np.ndarray, ref_ggml: np.ndarray | None = None
) -> ParityRow:
    err = np.abs(got - ref)
    return ParityRow(
        kind=kind,
        qtype=qtype,
        n_tokens=int(ref.shape[0]),
        max_abs=float(err.max()),
        mean_abs=float(err.mean()),
        last_max_abs=float(err[-1].max()),
        top1=float((got.argmax(1) == ref.argmax(1)).mean()),
        logit_std=float(ref.std()),
        max_abs_ggml_gelu=None if ref_ggml is None else float(np.abs(got - ref_ggml).max()),
    )


def tokenizer_mismatches(tokenizer: Any, gguf_path: Path) -> list[str]:
    """Texts where llama.cpp's tokens or detokenized bytes differ from the HF tokenizer's."""
    llm = load_llama(gguf_path, n_ctx=64, logits_all=False)
    problems: list[str] = []
    try:
        texts = [*ROUND_TRIP_TEXTS, code_sample()[:3000]]
        for text in texts:
            want = tokenizer.encode(text, add_special_tokens=False)
            got = llm.tokenize(text.encode("utf-8"), add_bos=False, special=False) if text else []
            if got != want:
                problems.append(f"tokens differ for {text[:40]!r}: {got[:12]} vs {want[:12]}")
            elif llm.detokenize(got).decode("utf-8") != text:
                problems.append(f"detokenize differs for {text[:40]!r}")
        fim = "<fim_prefix>def f():\n<fim_suffix>\n    return 1<fim_middle>"
        want = tokenizer.encode(fim, add_special_tokens=False)
        got = llm.tokenize(fim.encode("utf-8"), add_bos=False, special=True)
        if got != want:
            problems.append(f"special-token parse differs: {got} vs {want}")
    finally:
        llm.close()
    return problems


def markdown(rows: list[ParityRow]) -> str:
    lines = [
        "| model | type | tokens | max abs err | vs ggml f16 GELU | last-token max | "
        "mean abs | top-1 agree | tolerance |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        tol, mean_tol, top1 = TOLERANCES[r.qtype]
        gelu = "" if r.max_abs_ggml_gelu is None else f"{r.max_abs_ggml_gelu:.2e}"
        lines.append(
            f"| {r.kind} | {r.qtype} | {r.n_tokens} | {r.max_abs:.2e} | {gelu} | "
            f"{r.last_max_abs:.2e} | {r.mean_abs:.2e} | {100 * r.top1:.1f}% | "
            f"max ≤ {tol:g}, mean ≤ {mean_tol:g}, top-1 ≥ {100 * top1:.0f}% |"
        )
    return "\n".join(lines)
