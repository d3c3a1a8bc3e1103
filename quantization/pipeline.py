"""The tiny-model pipeline: random checkpoint -> GGUF F32/F16 -> every report quant type, and
the parity check over what it produced (used by ``python -m quantization tiny`` and the tests).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from . import tiny
from .convert import convert
from .quantize import REPORT_TYPES, quantize

ALL_TYPES = ("F32", "F16", *REPORT_TYPES)
Say = Callable[[str], None]


@dataclass
class TinyModel:
    kind: str
    folder: Path  # the HF checkpoint
    files: dict[str, Path] = field(default_factory=dict)  # quant type -> GGUF


def gguf_name(kind: str, qtype: str) -> str:
    return f"tiny-{kind}-{qtype.lower()}.gguf"


def build_tiny(
    workdir: Path,
    kinds: tuple[str, ...] = ("gptbigcode", "starcoder2"),
    types: tuple[str, ...] = ALL_TYPES,
    say: Say | None = None,
) -> list[TinyModel]:
    """Build, convert and quantize; F32 is always made (it is what the quant types start from)."""
    say = say or (lambda _: None)
    workdir.mkdir(parents=True, exist_ok=True)
    out: list[TinyModel] = []
    for kind in kinds:
        model = TinyModel(kind, workdir / f"hf-tiny-{kind}")
        tiny.build(kind, model.folder)
        say(f"built {model.folder}")
        for outtype in ("F32", "F16"):
            if outtype == "F32" or outtype in types:
                path = workdir / gguf_name(kind, outtype)
                result = convert(model.folder, path, outtype.lower())
                model.files[outtype] = path
                say(f"converted -> {path.name} ({result.size:,} bytes, {result.n_tensors} tensors)")
        for qtype in types:
            if qtype in ("F32", "F16"):
                continue
            path = workdir / gguf_name(kind, qtype)
            result = quantize(model.files["F32"], path, qtype)
            model.files[qtype] = path
            say(f"quantized -> {path.name} ({result.size_out:,} bytes, {result.seconds:.2f} s)")
        out.append(model)
    return out


@dataclass
class ParityReport:
    rows: list = field(default_factory=list)  # parity.ParityRow
    tokenizer: dict[str, list[str]] = field(default_factory=dict)  # kind -> problems
    dialects: dict[str, str] = field(default_factory=dict)  # file name -> server's dialect

    def failures(self) -> list[str]:
        from .parity import F32_TOL_GGML_GELU, TOLERANCES

        bad: list[str] = []
        for r in self.rows:
            tol, mean_tol, top1 = TOLERANCES[r.qtype]
            if r.max_abs > tol or r.mean_abs > mean_tol or r.top1 < top1:
                bad.append(
                    f"{r.kind} {r.qtype}: max abs {r.max_abs:.3g} (≤ {tol:g}), mean abs "
                    f"{r.mean_abs:.3g} (≤ {mean_tol:g}), top-1 {r.top1:.1%} (≥ {top1:.0%})"
                )
            if r.max_abs_ggml_gelu is not None and r.max_abs_ggml_gelu > F32_TOL_GGML_GELU:
                bad.append(f"{r.kind} {r.qtype}: {r.max_abs_ggml_gelu:.3g} vs ggml GELU")
        bad += [f"{k}: {p}" for k, probs in self.tokenizer.items() for p in probs]
        bad += [f"{f}: dialect {d}" for f, d in self.dialects.items() if d != "starcoder"]
        return bad


def server_dialect(path: Path) -> str:
    """The FIM dialect infill-lsp's own model resolver finds in ``path``."""
    from lsp_server.model import resolve_model

    return resolve_model(path).dialect.name


def run_parity(models: list[TinyModel], say: Say | None = None) -> ParityReport:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from . import parity

    say = say or (lambda _: None)
    report = ParityReport()
    for m in models:
        tokenizer = AutoTokenizer.from_pretrained(m.folder)
        hf = AutoModelForCausalLM.from_pretrained(m.folder, dtype="float32").eval()
        ids = parity.fim_prompt_ids(tokenizer)
        ref = parity.hf_logits(hf, ids)
        ref_ggml = parity.hf_logits(hf, ids, ggml_gelu=True)
        for qtype, path in m.files.items():
            got = parity.gguf_logits(path, ids)
            row = parity.compare(m.kind, qtype, got, ref, ref_ggml if qtype == "F32" else None)
            report.rows.append(row)
            report.dialects[path.name] = server_dialect(path)
            say(f"{m.kind} {qtype}: max abs {row.max_abs:.2e}, top-1 {row.top1:.1%}")
        report.tokenizer[m.kind] = parity.tokenizer_mismatches(tokenizer, m.files["F32"])
    return report
