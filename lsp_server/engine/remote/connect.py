"""Settings -> a connected remote engine (what ``loader.load_engine`` does for remote kinds)."""

from __future__ import annotations

import functools
import logging

from lsp_server.engine.remote import discover
from lsp_server.engine.remote.engine import RemoteEngine, dialect_name
from lsp_server.engine.remote.http import Http, RemoteError, api_key_from
from lsp_server.engine.remote.vocab import estimate_pieces, gguf_splitter
from lsp_server.settings import Settings

log = logging.getLogger(__name__)

# Questions that are not generations (discovery, /tokenize) are answered at once by a live
# engine: a few seconds at most each, so an engine that accepts and never answers holds up
# neither the start nor a prompt's tokenization (prompts are then estimated; when /health is
# not answered either, the requests meet the dead-engine backoff).
DISCOVERY_TIMEOUT_S = 3.0


def _server_splitter(http: Http):
    """Pieces from llama-server's own /tokenize (with_pieces), cached per text. Raises
    RemoteError when it is not answered: the engine then estimates (``RemoteEngine``), and
    counts itself down only when its /health is not answered either (busy is not down)."""

    @functools.lru_cache(maxsize=16384)
    def pieces(text: str) -> tuple[str, ...]:
        answer = http.request_json("POST", "/tokenize", {"content": text, "with_pieces": True})
        tokens = answer.get("tokens") or []
        out = [
            t["piece"] for t in tokens if isinstance(t, dict) and isinstance(t.get("piece"), str)
        ]
        if "".join(out) != text:  # byte pieces of split characters: fall back to the estimate
            return tuple(estimate_pieces(text))
        return tuple(out)

    def split(text: str) -> list[str]:
        return list(pieces(text))

    return split


def connect(settings: Settings) -> tuple[RemoteEngine, dict[str, object]]:
    if not settings.remote_url:
        raise ValueError(f"engine {settings.engine!r} needs remoteUrl (e.g. http://gpu-box:8080)")
    http = Http(
        settings.remote_url,
        api_key=api_key_from(settings.remote_api_key_env),
        timeout_s=settings.remote_timeout_ms / 1000,
    )
    asking = Http(  # for questions that are not generations
        settings.remote_url,
        api_key=http.api_key,
        timeout_s=min(DISCOVERY_TIMEOUT_S, settings.remote_timeout_ms / 1000),
    )
    if settings.remote_vocab:
        splitter, tokens = gguf_splitter(settings.remote_vocab), "vocab"
    elif settings.engine == "llama-server":
        splitter, tokens = _server_splitter(asking), "server"
    else:
        splitter, tokens = estimate_pieces, "estimate"
    found = None
    if settings.engine == "llama-server":
        dialect_set = bool(settings.remote_fim_dialect) and settings.remote_fim_dialect != "auto"
        found = discover.llama_server(asking, vocabulary=not dialect_set)
    if found is not None and found.notes:
        log.warning("llama-server at %s: %s", settings.remote_url, "; ".join(found.notes))
    if found is not None and found.unreachable and not _named(settings):
        # nothing else can tell the dialect: say the engine is not there (yet); the model
        # service tries again with backoff
        raise RemoteError(
            f"cannot ask the engine what it serves: {found.unreachable}", unreachable=True
        )
    dialect, dialect_from = _dialect(settings, found)
    n_ctx = settings.context_size
    if found is not None and found.n_ctx:
        n_ctx = min(n_ctx, found.n_ctx)  # the prompt must fit one slot's context
    slot = _slot(settings.remote_slot, found)
    engine = RemoteEngine(
        settings.engine,
        http,
        model=settings.remote_model or (found.model if found is not None else ""),
        dialect=dialect,
        vocab_splitter=splitter,
        n_ctx=n_ctx,
        max_concurrent=settings.remote_max_concurrent,
        redact=settings.remote_redact,
        slot=slot,
    )
    description: dict[str, object] = {
        "engine": settings.engine,
        "url": settings.remote_url,
        "model": settings.remote_model or (found.model if found else ""),
        "dialectFrom": dialect_from,
        "tokens": tokens,
        "redact": settings.remote_redact,
        "apiKey": bool(http.api_key),
    }
    if found is not None:
        description.update(slots=found.total_slots, slot=slot, nCtxPerSlot=found.n_ctx)
    return engine, description


def _slot(setting: int, found: discover.Discovered | None) -> int | None:
    """The slot to keep to: the one set (if the server has it), one at random, or none."""
    if found is None or setting == -2:
        return None
    if setting >= 0:
        if found.total_slots and setting >= found.total_slots:
            log.warning(
                "remoteSlot %d: the server has %d slots; not pinned", setting, found.total_slots
            )
            return None
        return setting
    return discover.pick_slot(found.total_slots)


def _named(settings: Settings) -> bool:
    """Whether the settings alone tell the dialect (set, or a model name that says it)."""
    if settings.remote_fim_dialect and settings.remote_fim_dialect != "auto":
        return True
    try:
        dialect_name("auto", settings.remote_model, settings.remote_url)
    except ValueError:
        return False
    return True


def _dialect(settings: Settings, found: discover.Discovered | None) -> tuple[str, str]:
    """The FIM dialect and where it came from: the setting, the engine's own vocabulary, or
    the model's name (the setting's, else the one the engine reports)."""
    if settings.remote_fim_dialect and settings.remote_fim_dialect != "auto":
        return settings.remote_fim_dialect, "setting"
    if found is not None and found.dialect:
        return found.dialect, "vocabulary"
    model = settings.remote_model or (found.model if found is not None else "")
    return dialect_name("auto", model, settings.remote_url), "name"
