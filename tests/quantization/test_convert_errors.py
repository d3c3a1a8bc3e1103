"""Clear errors for what the converter cannot take, and the checkpoint reader's formats; no torch
needed (hand-written checkpoints), only the gguf package."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.quantization.deps import need

STARCODER_PRE = {
    "type": "Sequence",
    "pretokenizers": [
        {"type": "Digits", "individual_digits": True},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
    ],
}
FIM = ("<|endoftext|>", "<fim_prefix>", "<fim_middle>", "<fim_suffix>", "<fim_pad>")


@pytest.fixture(autouse=True)
def _gguf():
    need("gguf")


def write_safetensors(path: Path, tensors: dict[str, np.ndarray], bf16: bool = False) -> None:
    header: dict[str, dict] = {}
    blobs: list[bytes] = []
    offset = 0
    for name, array in tensors.items():
        if bf16:
            raw = (np.asarray(array, dtype=np.float32).view(np.uint32) >> 16).astype("<u2")
            data, dtype = raw.tobytes(), "BF16"
        else:
            data, dtype = np.asarray(array, dtype="<f4").tobytes(), "F32"
        header[name] = {
            "dtype": dtype,
            "shape": list(array.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        blobs.append(data)
        offset += len(data)
    head = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(head)) + head + b"".join(blobs))


def write_tokenizer(folder: Path, specials=FIM, model_type: str = "BPE") -> None:
    vocab = {t: i for i, t in enumerate(specials)}
    for ch in "abcdefgh":
        vocab[ch] = len(vocab)
    data = {
        "normalizer": None,
        "pre_tokenizer": STARCODER_PRE,
        "added_tokens": [{"id": i, "content": t, "special": True} for i, t in enumerate(specials)],
        "model": {"type": model_type, "vocab": vocab, "merges": ["a b"]},
    }
    (folder / "tokenizer.json").write_text(json.dumps(data), encoding="utf-8")


def gptbigcode(folder: Path, **overrides) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "architectures": ["GPTBigCodeForCausalLM"],
        "n_embd": 8,
        "n_head": 2,
        "n_layer": 1,
        "n_positions": 16,
        "vocab_size": 16,
        "multi_query": True,
        "eos_token_id": 0,
        "bos_token_id": 0,
        **overrides,
    }
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return folder


def weights(n_embd: int = 8, vocab: int = 16, positions: int = 16) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    head = n_embd // 2
    w = {
        "transformer.wte.weight": rng.normal(size=(vocab, n_embd)),
        "transformer.wpe.weight": rng.normal(size=(positions, n_embd)),
        "transformer.ln_f.weight": np.ones(n_embd),
        "transformer.ln_f.bias": np.zeros(n_embd),
    }
    p = "transformer.h.0."
    shapes = {
        "ln_1.weight": (n_embd,),
        "ln_1.bias": (n_embd,),
        "attn.c_attn.weight": (n_embd + 2 * head, n_embd),
        "attn.c_attn.bias": (n_embd + 2 * head,),
        "attn.c_proj.weight": (n_embd, n_embd),
        "attn.c_proj.bias": (n_embd,),
        "ln_2.weight": (n_embd,),
        "ln_2.bias": (n_embd,),
        "mlp.c_fc.weight": (4 * n_embd, n_embd),
        "mlp.c_fc.bias": (4 * n_embd,),
        "mlp.c_proj.weight": (n_embd, 4 * n_embd),
        "mlp.c_proj.bias": (n_embd,),
    }
    w.update({p + k: rng.normal(size=s) for k, s in shapes.items()})
    return w


def complete(folder: Path) -> Path:
    gptbigcode(folder)
    write_tokenizer(folder)
    write_safetensors(folder / "model.safetensors", weights())
    return folder


def convert_error(src: Path, dst: Path, match: str, **kwargs) -> None:
    from quantization.convert import convert
    from quantization.errors import ConvertError

    with pytest.raises(ConvertError, match=match):
        convert(src, dst, **kwargs)
    assert not dst.exists()
    assert not dst.with_name(dst.name + ".part").exists()


def test_a_complete_hand_written_checkpoint_converts(tmp_path):
    from lsp_server.model import read_metadata
    from quantization.convert import convert

    result = convert(complete(tmp_path / "ck"), tmp_path / "out.gguf", "f32")
    assert (
        result.arch == "starcoder"
        and result.n_tensors == 16
        and result.pre_tokenizer == "starcoder"
    )
    meta = read_metadata(result.path)
    assert meta.tokens[:2] == ["<|endoftext|>", "<fim_prefix>"]
    assert meta.tokens[-3:] == ["[PAD13]", "[PAD14]", "[PAD15]"]  # padded to vocab_size
    assert meta.fim_ids["prefix"] == 1 and meta.fim_ids["middle"] == 2


def test_missing_folder(tmp_path):
    convert_error(tmp_path / "nope", tmp_path / "o.gguf", "no such checkpoint folder")


def test_missing_config(tmp_path):
    (tmp_path / "ck").mkdir()
    convert_error(tmp_path / "ck", tmp_path / "o.gguf", "missing config.json")


def test_unsupported_architecture_names_it_and_the_alternative(tmp_path):
    folder = gptbigcode(tmp_path / "ck", architectures=["LlamaForCausalLM"])
    convert_error(
        folder,
        tmp_path / "o.gguf",
        r"unsupported architecture LlamaForCausalLM.*convert_hf_to_gguf",
    )


def test_missing_weights(tmp_path):
    folder = gptbigcode(tmp_path / "ck")
    write_tokenizer(folder)
    convert_error(folder, tmp_path / "o.gguf", "no weights found")


def test_missing_shard(tmp_path):
    folder = complete(tmp_path / "ck")
    (folder / "model.safetensors").unlink()
    index = {"weight_map": {"transformer.wte.weight": "model-00001-of-00002.safetensors"}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    convert_error(folder, tmp_path / "o.gguf", "shard.*missing.*model-00001-of-00002")


def test_missing_tokenizer(tmp_path):
    folder = gptbigcode(tmp_path / "ck")
    write_safetensors(folder / "model.safetensors", weights())
    convert_error(folder, tmp_path / "o.gguf", "missing tokenizer.json")


def test_tokenizer_without_fim_tokens(tmp_path):
    folder = complete(tmp_path / "ck")
    write_tokenizer(folder, specials=("<|endoftext|>",))
    convert_error(folder, tmp_path / "o.gguf", "no FIM tokens")


def test_non_bpe_tokenizer(tmp_path):
    folder = complete(tmp_path / "ck")
    write_tokenizer(folder, model_type="Unigram")
    convert_error(folder, tmp_path / "o.gguf", "only that is supported")


def test_unknown_pre_tokenizer_suggests_override(tmp_path):
    folder = complete(tmp_path / "ck")
    data = json.loads((folder / "tokenizer.json").read_text())
    data["pre_tokenizer"] = {"type": "Metaspace"}
    (folder / "tokenizer.json").write_text(json.dumps(data))
    convert_error(folder, tmp_path / "o.gguf", "--tokenizer-pre")
    from quantization.convert import convert

    assert (
        convert(folder, tmp_path / "o.gguf", tokenizer_pre="starcoder").pre_tokenizer == "starcoder"
    )


def test_non_gelu_activation(tmp_path):
    folder = complete(tmp_path / "ck")
    gptbigcode(folder, activation_function="relu")
    convert_error(folder, tmp_path / "o.gguf", "GELU only")


def test_unmappable_tensor_leaves_no_file(tmp_path):
    folder = complete(tmp_path / "ck")
    write_safetensors(
        folder / "model.safetensors", {**weights(), "transformer.extra.weight": np.ones(3)}
    )
    convert_error(folder, tmp_path / "o.gguf", "cannot map: transformer.extra.weight")


def test_bad_outtype(tmp_path):
    convert_error(complete(tmp_path / "ck"), tmp_path / "o.gguf", "outtype", outtype="q4")


def test_bf16_safetensors_are_widened_exactly(tmp_path):
    from quantization.checkpoint import list_tensors

    values = np.array([[1.0, -2.5, 3.140625, 0.0]], dtype=np.float32)  # exact in bf16
    write_safetensors(tmp_path / "model.safetensors", {"x": values}, bf16=True)
    ref = list_tensors(tmp_path)["x"]
    assert ref.dtype == "BF16" and ref.shape == (1, 4)
    np.testing.assert_array_equal(ref.load(), values)


def test_quantize_errors(tmp_path):
    from quantization.errors import QuantizeError
    from quantization.quantize import quantize

    with pytest.raises(QuantizeError, match="unknown quant type"):
        quantize(tmp_path / "a.gguf", tmp_path / "b.gguf", "Q3_X")
    with pytest.raises(QuantizeError, match="no such GGUF file"):
        quantize(tmp_path / "a.gguf", tmp_path / "b.gguf", "Q4_0")
    (tmp_path / "a.gguf").write_bytes(b"not gguf")
    with pytest.raises(QuantizeError, match="not a GGUF file"):
        quantize(tmp_path / "a.gguf", tmp_path / "b.gguf", "Q4_0")


def test_cli_reports_errors_in_one_line(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "quantization",
            "convert",
            str(tmp_path / "nope"),
            str(tmp_path / "o.gguf"),
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr


def test_infill_lsp_quantize_is_the_same_toolkit(tmp_path):
    """`infill-lsp quantize ...` is the toolkit's second name: same sub-commands, same errors."""
    cli = [sys.executable, "-m", "lsp_server.cli", "quantize"]
    helped = subprocess.run([*cli, "--help"], capture_output=True, text=True, timeout=60)
    assert helped.returncode == 0
    assert helped.stdout.startswith("usage: infill-lsp quantize")
    assert "convert" in helped.stdout and "evaluate" in helped.stdout

    missing = subprocess.run(
        [*cli, "convert", str(tmp_path / "nope"), str(tmp_path / "o.gguf")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 2 and "no such checkpoint folder" in missing.stderr

    out = tmp_path / "out.gguf"
    done = subprocess.run(
        [*cli, "convert", str(complete(tmp_path / "ck")), str(out), "--outtype", "f32", "-q"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert out.stat().st_size > 0 and "starcoder" in done.stdout + done.stderr
