"""What a remote engine is, asked of the engine itself, so that ``engine`` + ``remoteUrl`` is
enough: llama.cpp's ``llama-server`` tells its model (``/props``: path or alias), its slots and
their context, and its vocabulary (``/tokenize`` answers control-token spellings as one token,
so the FIM dialect is read from the model's own vocabulary, as ``prompt.fim`` does for a local
GGUF). Any answer may be missing (an older server, a proxy in front of it): then the settings
and the model's name decide, with one log line saying what was not found.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field

from lsp_server.engine.remote.http import Http, RemoteError
from lsp_server.prompt.fim import SUPPORTED_DIALECTS, spellings

log = logging.getLogger(__name__)

NOT_A_TOKEN = "<|fim_prefixx|>"  # spelled like a marker, in no vocabulary


@dataclass
class Discovered:
    """What the engine said about itself (None/0: not said)."""

    model: str = ""  # model alias or path
    n_ctx: int = 0  # per slot
    total_slots: int = 0
    dialect: str = ""  # from the vocabulary
    notes: list[str] = field(default_factory=list)  # what could not be asked, for the log
    # the server could not be reached at all, or said it is not ready (503 while loading)
    unreachable: str = ""


def llama_server(http: Http, *, vocabulary: bool = True) -> Discovered:
    """``/props`` and (``vocabulary``: the dialect is not set) the vocabulary of a
    llama-server; never raises (a server without them is still used, configured by hand)."""
    found = Discovered()
    try:
        props = http.request_json("GET", "/props")
    except RemoteError as exc:
        found.notes.append(f"no /props ({exc})")
        if exc.unreachable:
            found.unreachable = str(exc)
            return found  # nothing more to ask of it now
        props = {}
    if isinstance(props, dict):
        found.model = str(props.get("model_alias") or props.get("model_path") or "")
        settings = props.get("default_generation_settings")
        if isinstance(settings, dict):
            found.n_ctx = _positive(settings.get("n_ctx"))
        found.total_slots = _positive(props.get("total_slots"))
    if vocabulary:
        found.dialect = vocabulary_dialect(http, found.notes)
    return found


def vocabulary_dialect(http: Http, notes: list[str]) -> str:
    """The dialect whose prefix, suffix and middle markers (and the family's own marker token,
    where families share FIM spellings: CodeGemma and Qwen) are each ONE token of the engine's
    vocabulary, asked through ``/tokenize``; "" when none is or it cannot be asked (or when
    the answers cannot be told apart: a made-up marker must not be one token either)."""
    try:
        if _one_token(http, NOT_A_TOKEN):
            notes.append("/tokenize answers any text as one token")
            return ""
    except RemoteError as exc:
        notes.append(f"no /tokenize ({exc})")
        return ""
    for name in SUPPORTED_DIALECTS:
        names = spellings(name)
        if names is None:
            continue
        wanted = [names[role][0] for role in ("prefix", "suffix", "middle")] + list(names["marker"])
        try:
            if all(_one_token(http, text) for text in wanted):
                return name
        except RemoteError as exc:
            notes.append(f"no /tokenize ({exc})")
            return ""
    return ""


def _one_token(http: Http, text: str) -> bool:
    answer = http.request_json("POST", "/tokenize", {"content": text, "with_pieces": True})
    tokens = answer.get("tokens") if isinstance(answer, dict) else None
    if not isinstance(tokens, list) or len(tokens) != 1:
        return False
    only = tokens[0]
    return not isinstance(only, dict) or only.get("piece", text) == text


def _positive(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def pick_slot(total_slots: int, rng: random.Random | None = None) -> int | None:
    """The slot this process keeps to (its prompt cache stays warm there), spread at random
    over the engine's slots so that several users land on different ones; None (no pinning)
    when the engine has one slot or did not say."""
    if total_slots < 2:
        return None
    return (rng or random.Random()).randrange(total_slots)
