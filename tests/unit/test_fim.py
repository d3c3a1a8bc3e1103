"""FIM dialects: detected from the vocabulary alone, built as PSM token ids."""

from __future__ import annotations

import pytest

from lsp_server.prompt.fim import SUPPORTED_DIALECTS, FimDialect, describe_supported, detect_dialect
from tests.helpers.gguf_writer import QWEN_SPECIALS


def vocab(*specials: str, n_plain: int = 10) -> list[str]:
    """Plain tokens first, then the specials, so ids are predictable: first special = n_plain."""
    return [f"w{i}" for i in range(n_plain)] + list(specials)


def ids(tokens: list[str], *texts: str) -> set[int]:
    return {tokens.index(t) for t in texts}


def test_qwen():
    tokens = vocab(*QWEN_SPECIALS)
    d = detect_dialect(tokens, eos_id=tokens.index("<|im_end|>"))
    assert d is not None and d.name == "qwen"
    assert (d.prefix_id, d.suffix_id, d.middle_id) == (13, 15, 14)
    assert d.repo_name_id == tokens.index("<|repo_name|>")
    assert d.file_sep_id == tokens.index("<|file_sep|>")
    stops = ids(tokens, "<|endoftext|>", "<|im_end|>", "<|fim_pad|>", "<|repo_name|>")
    assert stops | ids(tokens, "<|file_sep|>") <= d.stop_ids
    assert tokens.index("<|im_start|>") not in d.stop_ids


def test_qwen_default_model_ids():
    """The real Qwen2.5-Coder layout: specials from 151643 on (checked on the real file too)."""
    tokens = [f"w{i}" for i in range(151643)] + [
        "<|endoftext|>",
        "<|im_start|>",
        "<|im_end|>",
        "<|object_ref_start|>",
        "<|object_ref_end|>",
        "<|box_start|>",
        "<|box_end|>",
        "<|quad_start|>",
        "<|quad_end|>",
        "<|vision_start|>",
        "<|vision_end|>",
        "<|vision_pad|>",
        "<|image_pad|>",
        "<|video_pad|>",
        "<tool_call>",
        "</tool_call>",
        "<|fim_prefix|>",
        "<|fim_middle|>",
        "<|fim_suffix|>",
        "<|fim_pad|>",
        "<|repo_name|>",
        "<|file_sep|>",
    ]
    d = detect_dialect(tokens, 151645)
    assert d is not None
    assert (d.name, d.prefix_id, d.suffix_id, d.middle_id) == ("qwen", 151659, 151661, 151660)
    assert {151643, 151645, 151662, 151663, 151664} <= d.stop_ids


def test_codegemma_shares_qwen_spellings_but_has_its_own_stop():
    tokens = vocab(
        "<eos>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|file_separator|>"
    )
    d = detect_dialect(tokens, eos_id=tokens.index("<eos>"))
    assert d is not None and d.name == "codegemma"
    assert (d.prefix_id, d.middle_id, d.suffix_id) == (11, 12, 13)
    assert ids(tokens, "<eos>", "<|file_separator|>") <= d.stop_ids
    assert d.file_sep_id == tokens.index("<|file_separator|>")


def test_starcoder2():
    tokens = vocab(
        "<|endoftext|>",
        "<fim_prefix>",
        "<fim_middle>",
        "<fim_suffix>",
        "<fim_pad>",
        "<repo_name>",
        "<file_sep>",
    )
    d = detect_dialect(tokens, eos_id=10)
    assert d is not None and d.name == "starcoder"
    assert (d.prefix_id, d.suffix_id, d.middle_id) == (11, 13, 12)
    assert ids(tokens, "<|endoftext|>", "<fim_pad>", "<repo_name>", "<file_sep>") <= d.stop_ids
    assert (d.repo_name_id, d.file_sep_id) == (15, 16)


def test_starcoder1_reponame_spelling():
    tokens = vocab("<|endoftext|>", "<fim_prefix>", "<fim_middle>", "<fim_suffix>", "<reponame>")
    d = detect_dialect(tokens, eos_id=10)
    assert d is not None and d.name == "starcoder"
    assert d.repo_name_id == tokens.index("<reponame>")
    assert d.file_sep_id is None


def test_santacoder_hyphen_variants():
    tokens = vocab("<|endoftext|>", "<fim-prefix>", "<fim-middle>", "<fim-suffix>", "<fim-pad>")
    d = detect_dialect(tokens, eos_id=10)
    assert d is not None and d.name == "santacoder"
    assert (d.prefix_id, d.suffix_id, d.middle_id) == (11, 13, 12)
    assert ids(tokens, "<|endoftext|>", "<fim-pad>") <= d.stop_ids


@pytest.mark.parametrize("space", ["▁", ""])
def test_codellama_with_and_without_sentencepiece_space(space):
    tokens = vocab(
        "<s>", "</s>", f"{space}<PRE>", f"{space}<SUF>", f"{space}<MID>", f"{space}<EOT>"
    )
    d = detect_dialect(tokens, eos_id=tokens.index("</s>"))
    assert d is not None and d.name == "codellama"
    assert (d.prefix_id, d.suffix_id, d.middle_id) == (12, 13, 14)
    assert ids(tokens, "</s>", f"{space}<EOT>") <= d.stop_ids


def test_deepseek_coder():
    tokens = vocab(
        "<｜begin▁of▁sentence｜>",
        "<｜end▁of▁sentence｜>",
        "<｜fim▁hole｜>",
        "<｜fim▁begin｜>",
        "<｜fim▁end｜>",
    )
    d = detect_dialect(tokens)  # no eos id given: the vocab's own end token still stops
    assert d is not None and d.name == "deepseek"
    assert (d.prefix_id, d.suffix_id, d.middle_id) == (13, 12, 14)
    assert tokens.index("<｜end▁of▁sentence｜>") in d.stop_ids


def test_no_fim_tokens_means_no_dialect():
    tokens = vocab("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<PRE>", "<fim_prefix>")
    assert detect_dialect(tokens, eos_id=10) is None
    assert detect_dialect([]) is None


def test_lookalike_plain_text_is_not_fim():
    # Only whole-token spellings count, never substrings of ordinary tokens.
    assert detect_dialect(vocab("fim_prefix", "<fim_prefix", "prefix|>", "fim_middle")) is None


def test_eos_and_eot_ids_join_the_stops():
    tokens = vocab("<fim_prefix>", "<fim_middle>", "<fim_suffix>")
    d = detect_dialect(tokens, eos_id=3, eot_id=4)
    assert d is not None and {3, 4, 10, 11, 12} <= d.stop_ids


def test_metadata_ids_are_a_fallback_for_unknown_families():
    tokens = vocab("[PREFIX]", "[SUFFIX]", "[MIDDLE]", "[SEP]")
    fim_ids = {"prefix": 10, "suffix": 11, "middle": 12, "sep": 13}
    d = detect_dialect(tokens, eos_id=2, fim_ids=fim_ids)
    assert d is not None and d.name == "gguf-metadata"
    assert (d.prefix_id, d.suffix_id, d.middle_id, d.file_sep_id) == (10, 11, 12, 13)
    assert {2, 13} <= d.stop_ids
    # Known spellings win over metadata; incomplete or out-of-range metadata is ignored.
    known = vocab("<fim_prefix>", "<fim_middle>", "<fim_suffix>")
    assert detect_dialect(known, fim_ids=fim_ids).name == "starcoder"
    assert detect_dialect(tokens, fim_ids={"prefix": 10, "suffix": 11}) is None
    assert detect_dialect(tokens, fim_ids={"prefix": 10, "suffix": 11, "middle": 999}) is None


def test_build_is_psm_with_optional_bos():
    d = FimDialect("qwen", prefix_id=100, suffix_id=101, middle_id=102)
    assert d.build([1, 2], [3]) == [100, 1, 2, 101, 3, 102]
    assert d.build([1], [2], bos_id=7) == [7, 100, 1, 101, 2, 102]
    assert d.build([], []) == [100, 101, 102]
    assert d.build([0], [], bos_id=0) == [0, 100, 0, 101, 102]  # id 0 is a real id


def test_every_dialect_is_named_in_the_help_text():
    text = describe_supported()
    assert len(SUPPORTED_DIALECTS) == 6
    for needle in ("Qwen2.5-Coder", "StarCoder", "SantaCoder", "CodeLlama", "DeepSeek", "Gemma"):
        assert needle in text
