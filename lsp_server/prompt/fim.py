"""Fill-in-the-middle dialects, detected from the model's own vocabulary.

Every code model family spells its FIM control tokens differently, and getting them wrong gives
fluent nonsense rather than an error. So the dialect is read from the token strings stored in the
GGUF (never guessed from a file name), and prompts are built from token *ids*: tokenizing the
marker text would split it into ordinary pieces on some tokenizers, and llama-cpp-python 0.3.x's
``suffix=`` path hard-codes the FIM ids to 0.

Order: every supported family is trained on PSM (prefix, suffix, middle) and the default model
(Qwen2.5-Coder) does not take SPM, so ``FimDialect.build`` only produces PSM.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class _Family:
    """Token spellings of one FIM family; the first complete triple found in a vocab wins."""

    name: str
    prefix: tuple[str, ...]
    suffix: tuple[str, ...]
    middle: tuple[str, ...]
    # Tokens that end an answer when generated (end of text/turn, padding, next file/repo).
    stops: tuple[str, ...] = ()
    repo_name: tuple[str, ...] = ()
    file_sep: tuple[str, ...] = ()
    # Present only in this family's vocab: tells apart families that share FIM spellings.
    marker: str | None = None


# Order matters: CodeGemma shares Qwen's FIM spellings and is recognised by its own file
# separator, so it is tried first.
_FAMILIES: tuple[_Family, ...] = (
    _Family(
        name="codegemma",
        prefix=("<|fim_prefix|>",),
        suffix=("<|fim_suffix|>",),
        middle=("<|fim_middle|>",),
        stops=("<|file_separator|>", "<end_of_turn>", "<eos>", "<|fim_pad|>"),
        file_sep=("<|file_separator|>",),
        marker="<|file_separator|>",
    ),
    _Family(
        name="qwen",
        prefix=("<|fim_prefix|>",),
        suffix=("<|fim_suffix|>",),
        middle=("<|fim_middle|>",),
        stops=("<|fim_pad|>", "<|file_sep|>", "<|repo_name|>", "<|endoftext|>", "<|im_end|>"),
        repo_name=("<|repo_name|>",),
        file_sep=("<|file_sep|>",),
    ),
    _Family(
        name="starcoder",
        prefix=("<fim_prefix>",),
        suffix=("<fim_suffix>",),
        middle=("<fim_middle>",),
        stops=("<fim_pad>", "<file_sep>", "<repo_name>", "<|endoftext|>"),
        repo_name=("<repo_name>", "<reponame>"),
        file_sep=("<file_sep>",),
    ),
    _Family(
        name="santacoder",
        prefix=("<fim-prefix>",),
        suffix=("<fim-suffix>",),
        middle=("<fim-middle>",),
        stops=("<fim-pad>", "<|endoftext|>"),
    ),
    _Family(
        name="codellama",
        prefix=("▁<PRE>", "<PRE>"),
        suffix=("▁<SUF>", "<SUF>"),
        middle=("▁<MID>", "<MID>"),
        stops=("▁<EOT>", "<EOT>"),
    ),
    _Family(
        name="deepseek",
        prefix=("<｜fim▁begin｜>",),
        suffix=("<｜fim▁hole｜>",),
        middle=("<｜fim▁end｜>",),
        stops=("<｜end▁of▁sentence｜>", "<|EOT|>"),
    ),
)

SUPPORTED_DIALECTS: tuple[str, ...] = tuple(f.name for f in _FAMILIES)


@dataclass(frozen=True)
class FimDialect:
    """How one model wants a FIM prompt laid out, as token ids of its own vocabulary."""

    name: str
    prefix_id: int
    suffix_id: int
    middle_id: int
    # Generating any of these ends the answer: eos/eot, FIM padding, the next file or repo
    # marker, and the FIM markers themselves (a model that emits them has lost the thread).
    stop_ids: frozenset[int] = field(default_factory=frozenset)
    repo_name_id: int | None = None
    file_sep_id: int | None = None

    def build(
        self, prefix_ids: list[int], suffix_ids: list[int], bos_id: int | None = None
    ) -> list[int]:
        """``[bos?] <prefix> P <suffix> S <middle>`` -- the answer follows the middle marker.

        Pass ``bos_id`` only for models whose tokenizer adds BOS (``GGUFMetadata.add_bos``);
        CodeLlama and DeepSeek-Coder want it, Qwen2.5-Coder and StarCoder do not. CodeLlama was
        trained with the suffix tokenized *without* SentencePiece's leading space; that is the
        tokenizer caller's concern, the layout is the same PSM.
        """
        head = [bos_id] if bos_id is not None else []
        return [
            *head,
            self.prefix_id,
            *prefix_ids,
            self.suffix_id,
            *suffix_ids,
            self.middle_id,
        ]


def _first(index: Mapping[str, int], spellings: Iterable[str]) -> int | None:
    for text in spellings:
        token_id = index.get(text)
        if token_id is not None:
            return token_id
    return None


def _from_family(
    family: _Family, index: Mapping[str, int], extra_stops: Iterable[int | None]
) -> FimDialect | None:
    prefix = _first(index, family.prefix)
    suffix = _first(index, family.suffix)
    middle = _first(index, family.middle)
    if prefix is None or suffix is None or middle is None:
        return None
    stops = {index[t] for t in family.stops if t in index}
    stops.update(i for i in extra_stops if i is not None)
    stops.update((prefix, suffix, middle))
    return FimDialect(
        name=family.name,
        prefix_id=prefix,
        suffix_id=suffix,
        middle_id=middle,
        stop_ids=frozenset(stops),
        repo_name_id=_first(index, family.repo_name),
        file_sep_id=_first(index, family.file_sep),
    )


def _from_metadata_ids(
    fim_ids: Mapping[str, int], n_vocab: int, extra_stops: Iterable[int | None]
) -> FimDialect | None:
    """Fallback for families we do not know by name but whose GGUF states the FIM ids."""
    prefix, suffix, middle = (fim_ids.get(role, -1) for role in ("prefix", "suffix", "middle"))
    if not all(0 <= i < n_vocab for i in (prefix, suffix, middle)):
        return None
    stops = {prefix, suffix, middle}
    stops.update(i for i in extra_stops if i is not None)
    stops.update(fim_ids[r] for r in ("pad", "repo", "sep") if r in fim_ids)
    return FimDialect(
        name="gguf-metadata",
        prefix_id=prefix,
        suffix_id=suffix,
        middle_id=middle,
        stop_ids=frozenset(stops),
        repo_name_id=fim_ids.get("repo"),
        file_sep_id=fim_ids.get("sep"),
    )


def detect_dialect(
    tokens: Sequence[str],
    eos_id: int | None = None,
    *,
    eot_id: int | None = None,
    fim_ids: Mapping[str, int] | None = None,
) -> FimDialect | None:
    """The model's FIM dialect from its vocabulary, or None when it has no FIM tokens.

    ``fim_ids`` (``GGUFMetadata.fim_ids``) is consulted only when no known family's spellings
    are in the vocab, so models of new families still work if their converter recorded the ids.
    """
    # Last spelling wins on duplicates, as in llama.cpp's own token -> id map.
    index = {token: i for i, token in enumerate(tokens)}
    extra = (eos_id, eot_id)
    for family in _FAMILIES:
        if family.marker is not None and family.marker not in index:
            continue
        dialect = _from_family(family, index, extra)
        if dialect is not None:
            return dialect
    if fim_ids:
        return _from_metadata_ids(fim_ids, len(tokens), extra)
    return None


def spellings(name: str) -> dict[str, tuple[str, ...]] | None:
    """The token spellings of a known family (for engines that take the prompt as text)."""
    family = next((f for f in _FAMILIES if f.name == name), None)
    if family is None:
        return None
    return {
        "prefix": family.prefix[-1:],  # the spelling without SentencePiece's leading mark
        "suffix": family.suffix[-1:],
        "middle": family.middle[-1:],
        "stops": family.stops,
        "repo_name": family.repo_name[:1],
        "file_sep": family.file_sep[:1],
        # a token only this family's vocabulary has (tells apart families sharing FIM spellings)
        "marker": (family.marker,) if family.marker else (),
    }


def describe_supported() -> str:
    """A human list of the dialects we recognise, for error messages."""
    examples = {
        "codegemma": "CodeGemma",
        "qwen": "Qwen2.5-Coder (<|fim_prefix|>)",
        "starcoder": "StarCoder/StarCoder2 (<fim_prefix>)",
        "santacoder": "SantaCoder (<fim-prefix>)",
        "codellama": "CodeLlama (<PRE>)",
        "deepseek": "DeepSeek-Coder (<｜fim▁begin｜>)",
    }
    return ", ".join(examples[name] for name in SUPPORTED_DIALECTS)
