"""Tiny random StarCoder-family checkpoints, built from a config (nothing downloaded).

Used by the parity tests and by ``python -m quantization tiny``. Each checkpoint is a real
Hugging Face folder (config.json, model.safetensors, tokenizer.json, tokenizer_config.json)
that ``transformers`` loads and ``convert`` converts:

- the tokenizer is a byte-level BPE trained with the ``tokenizers`` library on Python source
  (``data/tokenizer_corpus.txt``: four of this repository's modules as they were when the
  parity tolerances were measured, frozen: trained on the live files, every edit of them
  changed the tokenizer, the tiny models and so the logits' noise), with StarCoder's
  pre-tokenizer (every digit split, then
  GPT-2's byte-level regex) and StarCoder's special tokens (``<|endoftext|>`` = 0, the FIM
  tokens, ``<repo_name>``, ``<file_sep>``) as added special tokens;
- sizes are chosen for llama.cpp's k-quants: every weight row (the input dimension) is a multiple
  of 256, so Q4_K/Q5_K/Q6_K apply to every matrix instead of falling back to Q5_0/Q8_0;
- weights are random but not "initialised": every parameter, LayerNorm gains and biases
  included, is drawn so that logits span several units and a mis-mapped tensor (a swapped bias,
  a transposed matrix, an unpermuted QKV) shows up as a large error, not in the noise.

Needs torch, transformers and tokenizers (the ``quantization`` extra).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).resolve().parent / "data" / "tokenizer_corpus.txt"
SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<fim_prefix>",
    "<fim_middle>",
    "<fim_suffix>",
    "<fim_pad>",
    "<filename>",
    "<repo_name>",
    "<file_sep>",
)
VOCAB_SIZE = 1024
# Token/position embedding scale: the output head is tied to the token embedding, so this sets
# the logits' scale (std about EMBED_STD * sqrt(256) = 1.6).
EMBED_STD = 0.1
KINDS = ("gptbigcode", "gptbigcode-mha", "starcoder2")


def training_text() -> str:
    """The tokenizer's training text (frozen: see the module's docstring)."""
    return CORPUS.read_text(encoding="utf-8")


def build_tokenizer(folder: Path) -> Any:
    """Train the byte-level BPE and save tokenizer.json + tokenizer_config.json in ``folder``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    text = training_text()
    tok.train_from_iterator([text[i : i + 2000] for i in range(0, len(text), 2000)], trainer)
    folder.mkdir(parents=True, exist_ok=True)
    tok.save(str(folder / "tokenizer.json"))
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": "<|endoftext|>",
        "eos_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>",
        "additional_special_tokens": list(SPECIAL_TOKENS[1:]),
        "model_max_length": 4096,
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    return tok


def _config(kind: str, vocab_size: int) -> Any:
    common = {"vocab_size": vocab_size, "bos_token_id": 0, "eos_token_id": 0}
    if kind.startswith("gptbigcode"):
        from transformers import GPTBigCodeConfig

        return GPTBigCodeConfig(
            n_embd=256,
            n_layer=2,
            n_head=4,
            n_inner=1024,
            n_positions=4096,  # learned positions: as long as the server's default context
            multi_query=kind == "gptbigcode",
            activation_function="gelu_pytorch_tanh",
            **common,
        )
    if kind == "starcoder2":
        from transformers import Starcoder2Config

        return Starcoder2Config(
            hidden_size=256,
            intermediate_size=1024,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=4096,
            rope_theta=100000.0,
            hidden_act="gelu_pytorch_tanh",
            use_bias=True,
            tie_word_embeddings=True,
            **common,
        )
    raise ValueError(f"unknown tiny model kind {kind!r} (one of {', '.join(KINDS)})")


def _randomize(model: Any, seed: int) -> None:
    import torch

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.ndim == 1 and name.endswith(".weight"):  # LayerNorm gains
                values = 1.0 + 0.2 * torch.randn(param.shape, generator=gen)
            elif param.ndim == 1:
                values = 0.1 * torch.randn(param.shape, generator=gen)
            elif "wte" in name or "embed_tokens" in name or "wpe" in name:
                values = EMBED_STD * torch.randn(param.shape, generator=gen)
            else:
                values = torch.randn(param.shape, generator=gen) / math.sqrt(param.shape[1])
            param.copy_(values.to(param.dtype))


def build(kind: str, folder: Path, seed: int = 0) -> Any:
    """Build the tiny ``kind`` checkpoint in ``folder``; returns the transformers model (eval)."""
    import torch
    import transformers

    transformers.logging.disable_progress_bar()
    folder = Path(folder)
    tok = build_tokenizer(folder)
    torch.manual_seed(seed)
    model_cls = _model_class(kind)
    model = model_cls(_config(kind, tok.get_vocab_size()))
    _randomize(model, seed)
    model.eval()
    model.save_pretrained(folder, safe_serialization=True)
    config_path = folder / "config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["_name_or_path"] = f"tiny-random-{kind}"
    config_path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    return model


def _model_class(kind: str) -> Any:
    if kind.startswith("gptbigcode"):
        from transformers import GPTBigCodeForCausalLM

        return GPTBigCodeForCausalLM
    from transformers import Starcoder2ForCausalLM

    return Starcoder2ForCausalLM
