"""The checkpoint's byte-level BPE tokenizer as GGUF metadata (what llama.cpp's ``gpt2`` vocab
loads): tokens, token types, merges, the pre-tokenizer name, special and FIM token ids.

Read straight from ``tokenizer.json`` (or ``vocab.json`` + ``merges.txt``), without the
``tokenizers`` package. The pre-tokenizer name is chosen from the tokenizer's own
``pre_tokenizer`` (llama.cpp reimplements a fixed set of them by name, it cannot run the JSON):
StarCoder / StarCoder2 / SantaCoder split every digit and then apply GPT-2's byte-level regex,
which llama.cpp calls ``starcoder``; plain GPT-2 byte level is ``gpt-2``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gguf import TokenType

from .errors import ConvertError

# FIM roles -> spellings (StarCoder family first, then SantaCoder's dashed ones).
FIM_SPELLINGS: dict[str, tuple[str, ...]] = {
    "pre": ("<fim_prefix>", "<fim-prefix>"),
    "suf": ("<fim_suffix>", "<fim-suffix>"),
    "mid": ("<fim_middle>", "<fim-middle>"),
    "pad": ("<fim_pad>", "<fim-pad>"),
    "rep": ("<repo_name>", "<reponame>"),
    "sep": ("<file_sep>",),
}
PRE_TOKENIZERS = ("starcoder", "refact", "gpt-2", "default")


@dataclass
class Vocab:
    tokens: list[str]
    types: list[int]
    merges: list[str]
    pre: str
    bos_id: int | None
    eos_id: int | None
    pad_id: int | None = None
    fim_ids: dict[str, int] = field(default_factory=dict)

    def index(self) -> dict[str, int]:
        return {t: i for i, t in enumerate(self.tokens)}


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConvertError(f"{path}: unreadable JSON ({exc})") from exc


def _pre_from_json(pre: dict[str, Any] | None) -> str | None:
    """llama.cpp's name for a tokenizer.json ``pre_tokenizer``, None when it has none."""
    if not pre:
        return None
    steps = pre.get("pretokenizers") if pre.get("type") == "Sequence" else [pre]
    kinds = [s.get("type") for s in steps]
    byte_level = steps[-1] if kinds and kinds[-1] == "ByteLevel" else None
    if byte_level is None or not byte_level.get("use_regex", True):
        return None
    if byte_level.get("add_prefix_space"):
        return None
    if kinds == ["ByteLevel"]:
        return "gpt-2"
    if kinds == ["Digits", "ByteLevel"] and steps[0].get("individual_digits"):
        return "starcoder"
    return None


def _from_tokenizer_json(path: Path) -> tuple[dict[str, int], list[str], list[dict], str | None]:
    data = _load_json(path)
    model = data.get("model") or {}
    if model.get("type") != "BPE":
        raise ConvertError(
            f"{path}: tokenizer model is {model.get('type')!r}; the StarCoder family uses a "
            "byte-level BPE tokenizer and only that is supported"
        )
    if data.get("normalizer"):
        raise ConvertError(f"{path}: tokenizers with a normalizer are not supported")
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
    pre = _pre_from_json(data.get("pre_tokenizer"))
    if pre is None:
        pre = f"?{json.dumps(data.get('pre_tokenizer'))[:200]}"  # an error unless overridden
    return dict(model.get("vocab", {})), merges, list(data.get("added_tokens", [])), pre


def _from_vocab_merges(folder: Path) -> tuple[dict[str, int], list[str], list[dict], None]:
    vocab = _load_json(folder / "vocab.json")
    lines = (folder / "merges.txt").read_text(encoding="utf-8").splitlines()
    merges = [ln for ln in lines if ln and not ln.startswith("#version")]
    config = folder / "tokenizer_config.json"
    added: list[dict] = []
    if config.is_file():
        for key, info in (_load_json(config).get("added_tokens_decoder") or {}).items():
            added.append({"id": int(key), "content": info["content"], "special": info["special"]})
    return vocab, merges, added, None


def _special_id(
    config: dict[str, Any], tok_config: dict[str, Any], key: str, index: dict[str, int], size: int
) -> int | None:
    value = config.get(f"{key}_token_id")
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, int) and 0 <= value < size:
        return value
    text = tok_config.get(f"{key}_token")
    if isinstance(text, dict):
        text = text.get("content")
    if isinstance(text, str) and text in index:
        return index[text]
    return None


def read_vocab(folder: Path, config: dict[str, Any], pre_override: str | None = None) -> Vocab:
    """The tokenizer of checkpoint ``folder`` as GGUF vocab (padded to config's vocab_size)."""
    if (folder / "tokenizer.json").is_file():
        vocab, merges, added, pre = _from_tokenizer_json(folder / "tokenizer.json")
    elif (folder / "vocab.json").is_file() and (folder / "merges.txt").is_file():
        vocab, merges, added, pre = _from_vocab_merges(folder)
    else:
        raise ConvertError(
            f"{folder}: missing tokenizer.json (or vocab.json + merges.txt); the GGUF needs the "
            "model's own BPE tokenizer"
        )
    if pre_override:
        if pre_override not in PRE_TOKENIZERS:
            raise ConvertError(f"--tokenizer-pre must be one of {', '.join(PRE_TOKENIZERS)}")
        pre = pre_override
    if pre is None:
        pre = "starcoder"  # vocab.json + merges.txt: the family's tokenizer (digits split)
    if pre.startswith("?"):
        raise ConvertError(
            f"{folder}: tokenizer.json pre-tokenizer {pre[1:]} is not one llama.cpp "
            f"reimplements for this family; pass --tokenizer-pre ({', '.join(PRE_TOKENIZERS)}) "
            "if you know it behaves like one of them"
        )
    special = {int(a["id"]): bool(a.get("special", True)) for a in added}
    for a in added:
        vocab[a["content"]] = int(a["id"])
    by_id = {i: t for t, i in vocab.items()}
    size = max(int(config.get("vocab_size") or 0), max(by_id) + 1)
    tokens: list[str] = []
    types: list[int] = []
    for i in range(size):
        text = by_id.get(i)
        if text is None:
            tokens.append(f"[PAD{i}]")
            types.append(TokenType.UNUSED)
        elif i in special:
            tokens.append(text)
            types.append(TokenType.CONTROL if special[i] else TokenType.USER_DEFINED)
        else:
            tokens.append(text)
            types.append(TokenType.NORMAL)
    index = {t: i for i, t in enumerate(tokens)}
    tok_config_path = folder / "tokenizer_config.json"
    tok_config = _load_json(tok_config_path) if tok_config_path.is_file() else {}
    eos = _special_id(config, tok_config, "eos", index, size)
    if eos is None:
        eos = index.get("<|endoftext|>")
    bos = _special_id(config, tok_config, "bos", index, size)
    if bos is None:
        bos = eos
    pad = _special_id(config, tok_config, "pad", index, size)
    result = Vocab(tokens, types, merges, pre, bos, eos, pad)
    for role, spellings in FIM_SPELLINGS.items():
        for text in spellings:
            if text in index:
                result.fim_ids[role] = index[text]
                break
    if not all(r in result.fim_ids for r in ("pre", "suf", "mid")):
        raise ConvertError(
            f"{folder}: the tokenizer has no FIM tokens (<fim_prefix>/<fim_suffix>/<fim_middle> "
            "or SantaCoder's <fim-prefix>/...); infill-lsp needs a fill-in-the-middle model"
        )
    return result


def add_to_writer(writer: Any, vocab: Vocab) -> None:
    """Write the tokenizer keys llama.cpp's BPE vocab loader and infill-lsp read."""
    import gguf

    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(vocab.pre)
    writer.add_token_list(vocab.tokens)
    writer.add_token_types(vocab.types)
    writer.add_token_merges(vocab.merges)
    if vocab.bos_id is not None:
        writer.add_bos_token_id(vocab.bos_id)
    if vocab.eos_id is not None:
        writer.add_eos_token_id(vocab.eos_id)
    if vocab.pad_id is not None:
        writer.add_pad_token_id(vocab.pad_id)
    writer.add_add_bos_token(False)  # StarCoder never prepends BOS
    keys = gguf.Keys.Tokenizer
    for role, key in (
        ("pre", keys.FIM_PRE_ID),
        ("suf", keys.FIM_SUF_ID),
        ("mid", keys.FIM_MID_ID),
        ("pad", keys.FIM_PAD_ID),
        ("rep", keys.FIM_REP_ID),
        ("sep", keys.FIM_SEP_ID),
    ):
        if role in vocab.fim_ids:
            writer.add_uint32(key, vocab.fim_ids[role])
