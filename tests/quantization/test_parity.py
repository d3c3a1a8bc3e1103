"""What proves the converter right: tiny random GPTBigCode / Starcoder2 checkpoints built with
transformers, converted, quantized with llama.cpp, and compared with transformers' forward pass
(logits), the HF tokenizer (round trip) and infill-lsp's own model loader (FIM dialect)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.quantization.deps import HEAVY, need

KINDS = ("gptbigcode", "starcoder2")
QUANT = ("Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q4_0")


def _row(report, kind: str, qtype: str):
    return next(r for r in report.rows if r.kind == kind and r.qtype == qtype)


@pytest.mark.parametrize("kind", [*KINDS, "gptbigcode-mha"])
def test_f32_logits_match_transformers(parity_report, kind):
    from quantization.parity import F32_TOL_GGML_GELU, TOLERANCES

    row = _row(parity_report, kind, "F32")
    # The conversion itself: within 1e-3 of transformers once ggml's f16 GELU table is applied.
    assert row.max_abs_ggml_gelu is not None
    assert row.max_abs_ggml_gelu <= F32_TOL_GGML_GELU, row
    # Against plain transformers (the GELU table's rounding included).
    tol, mean_tol, top1 = TOLERANCES["F32"]
    assert row.max_abs <= tol and row.mean_abs <= mean_tol and row.top1 >= top1, row
    assert row.logit_std > 1.0  # the logits are not all ~0 (which would make any check pass)


@pytest.mark.parametrize("qtype", ["F16", *QUANT])
@pytest.mark.parametrize("kind", KINDS)
def test_quantized_logits_within_documented_tolerance(parity_report, kind, qtype):
    from quantization.parity import TOLERANCES

    row = _row(parity_report, kind, qtype)
    tol, mean_tol, top1 = TOLERANCES[qtype]
    assert row.max_abs <= tol, row
    assert row.mean_abs <= mean_tol, row
    assert row.top1 >= top1, row


@pytest.mark.parametrize("kind", KINDS)
def test_error_grows_as_bits_shrink(parity_report, kind):
    means = [_row(parity_report, kind, t).mean_abs for t in ("F32", "F16", "Q8_0", "Q6_K")]
    means.append(_row(parity_report, kind, "Q4_K_M").mean_abs)
    assert means == sorted(means), means


@pytest.mark.parametrize("kind", [*KINDS, "gptbigcode-mha"])
def test_tokenizer_round_trip_identical(parity_report, kind):
    assert parity_report.tokenizer[kind] == []


def test_server_detects_starcoder_dialect_in_every_file(parity_report, tiny_models):
    from lsp_server.model import resolve_model

    files = [p for m in tiny_models.values() for p in m.files.values()]
    assert len(parity_report.dialects) == len(files) == 7 + 7 + 2
    assert set(parity_report.dialects.values()) == {"starcoder"}
    resolved = resolve_model(tiny_models["starcoder2"].files["Q4_K_M"])
    tokens = resolved.metadata.tokens
    assert tokens[resolved.dialect.prefix_id] == "<fim_prefix>"
    assert tokens[resolved.dialect.suffix_id] == "<fim_suffix>"
    assert tokens[resolved.dialect.middle_id] == "<fim_middle>"
    assert tokens[resolved.dialect.file_sep_id] == "<file_sep>"
    assert tokens[resolved.dialect.repo_name_id] == "<repo_name>"
    assert resolved.metadata.fim_ids == {
        "prefix": 1,
        "suffix": 3,
        "middle": 2,
        "pad": 4,
        "repo": 6,
        "sep": 7,
    }


def test_server_cli_loads_and_completes_with_converted_model(tiny_models, tmp_path):
    model = tiny_models["gptbigcode"].files["Q4_K_M"]
    cli = [sys.executable, "-m", "lsp_server"]
    out = subprocess.run(
        [*cli, "model", "--model", str(model), "--json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert json.loads(out.stdout)["dialect"] == "starcoder"
    source = tmp_path / "x.py"
    source.write_text("def add(a, b):\n    return \n", encoding="utf-8")
    done = subprocess.run(
        [*cli, "complete", f"{source}:2:12", "--model", str(model), "--set", "maxTokens=4"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_parity_check_catches_a_wrong_qkv_layout(tiny_models, tmp_path, monkeypatch):
    """Negative control: skipping the per-head QKV reorder of a multi-head GPTBigCode must show
    up as a large logit error, so the parity numbers above really test the layout."""
    need(*HEAVY)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from quantization import convert as convert_module
    from quantization import parity

    monkeypatch.setattr(convert_module, "_interleaved_qkv", lambda array, n_head: array)
    folder = tiny_models["gptbigcode-mha"].folder
    wrong = tmp_path / "wrong.gguf"
    convert_module.convert(folder, wrong, "f32")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    ids = parity.fim_prompt_ids(tokenizer)
    hf = AutoModelForCausalLM.from_pretrained(folder, dtype="float32").eval()
    row = parity.compare("wrong", "F32", parity.gguf_logits(wrong, ids), parity.hf_logits(hf, ids))
    assert row.max_abs > 0.5, row


def test_quantize_reports_progress_for_every_tensor(tiny_models, tmp_path):
    from quantization.quantize import quantize

    seen: list[tuple[int, int, str]] = []
    src = tiny_models["starcoder2"].files["F32"]
    result = quantize(src, tmp_path / "q.gguf", "q5_k_m", progress=lambda *a: seen.append(a))
    assert result.qtype == "Q5_K_M" and result.size_out < result.size_in / 3
    assert [d for d, _, _ in seen] == list(range(1, len(seen) + 1))
    assert seen[-1][0] == seen[-1][1] == result.n_tensors == 35
    assert {name for _, _, name in seen} >= {"token_embd.weight", "blk.1.ffn_down.weight"}
    assert result.fallbacks == []  # every row is a multiple of 256: no legacy-type fallback


def test_converted_metadata_is_what_llama_cpp_reads(tiny_models):
    from lsp_server.model import read_metadata

    meta = read_metadata(tiny_models["gptbigcode"].files["F16"])
    kv = meta.kv
    assert kv["general.architecture"] == "starcoder"
    assert kv["general.file_type"] == 1
    assert kv["starcoder.attention.head_count_kv"] == 1  # multi-query
    assert kv["starcoder.context_length"] == 4096
    assert kv["tokenizer.ggml.model"] == "gpt2"
    assert kv["tokenizer.ggml.pre"] == "starcoder"
    assert kv["tokenizer.ggml.eos_token_id"] == 0
    assert kv["tokenizer.ggml.add_bos_token"] is False
    assert len(kv["tokenizer.ggml.merges"]) > 500
    meta2 = read_metadata(tiny_models["starcoder2"].files["F32"])
    assert meta2.kv["starcoder2.attention.head_count_kv"] == 2
    assert meta2.kv["starcoder2.rope.freq_base"] == 100000.0
    mha = read_metadata(tiny_models["gptbigcode-mha"].files["F32"])
    assert mha.kv["starcoder.attention.head_count_kv"] == 4
