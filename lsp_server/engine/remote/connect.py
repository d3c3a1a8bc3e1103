"""Settings -> a connected remote engine (what ``loader.load_engine`` does for remote kinds)."""

from __future__ import annotations

import functools
import logging
from dataclasses import replace

from lsp_server.engine.remote import discover
from lsp_server.engine.remote.engine import RemoteEngine, dialect_name
from lsp_server.engine.remote.http import Http, RemoteError, api_key_from
from lsp_server.engine.remote.protocols import _ollama_body
from lsp_server.engine.remote.recovery import Rediscovery
from lsp_server.engine.remote.vocab import estimate_pieces, gguf_splitter
from lsp_server.settings import Settings

log = logging.getLogger(__name__)

# Questions that are not generations (discovery, /tokenize) are answered at once by a live
# engine: a few seconds at most each, so an engine that accepts and never answers holds up
# neither the start nor a prompt's tokenization (prompts are then estimated; when /health is
# not answered either, the requests meet the dead-engine backoff).
DISCOVERY_TIMEOUT_S = 3.0
MODELS_SHOWN = 12  # of the models an engine serves, in the status


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
    found = discover_engine(settings, asking)
    model = settings.remote_model or found.model
    dialect, dialect_from = _dialect(settings, found, model)
    n_ctx = settings.context_size
    if found.n_ctx:
        n_ctx = min(n_ctx, found.n_ctx)  # the prompt must fit the engine's (a slot's) context
    pinning = found if settings.engine == "llama-server" else None
    slot = _slot(settings.remote_slot, pinning)
    if slot is not None:
        log.warning(  # measured: tests/e2e/test_team_privacy.py
            "remoteSlot %d: requests are pinned to slot %d of %d; when more editors pin than "
            "there are slots, llama-server's RAM prompt cache can answer one with another's "
            "code: start it with --cache-ram 0, or leave remoteSlot at -2",
            settings.remote_slot, slot, found.total_slots,
        )  # fmt: skip
    engine = RemoteEngine(
        settings.engine,
        http,
        model=model,
        dialect=dialect,
        vocab_splitter=splitter,
        n_ctx=n_ctx,
        max_concurrent=settings.remote_max_concurrent,
        redact=settings.remote_redact,
        slot=slot,
        rediscovery=None
        if pinning is None
        else Rediscovery(  # what it is asked again after a restart
            ask=functools.partial(discover.llama_server, asking, vocabulary=False),
            slot=functools.partial(_slot, settings.remote_slot),
            n_ctx=settings.context_size,
            model=found.model,
        ),
    )
    description: dict[str, object] = {
        "engine": settings.engine,
        "url": settings.remote_url,
        "model": model,
        "dialectFrom": dialect_from,
        "tokens": tokens,
        "redact": settings.remote_redact,
        "apiKey": bool(http.api_key),
    }
    if pinning is not None:
        description.update(slots=found.total_slots, slot=slot, nCtxPerSlot=found.n_ctx)
    else:
        description.update(_told(settings, found, engine))
    return engine, description


def discover_engine(settings: Settings, asking: Http) -> discover.Discovered:
    """What the engine says about itself (``discover``), its notes logged in one line.
    Raises RemoteError (unreachable) when it cannot be asked and the settings do not say
    enough without it."""
    dialect_set = bool(settings.remote_fim_dialect) and settings.remote_fim_dialect != "auto"
    if settings.engine == "llama-server":
        found = discover.llama_server(asking, vocabulary=not dialect_set)
    elif settings.engine == "openai":
        found = discover.openai(asking, settings.remote_model, _name_dialect)
    elif settings.engine == "ollama":
        found = discover.ollama(
            asking, settings.remote_model, _name_dialect, template=not dialect_set
        )
    else:
        found = discover.Discovered()
    if found.notes:
        log.warning("%s at %s: %s", settings.engine, settings.remote_url, "; ".join(found.notes))
    if found.unreachable and not _named(settings):
        # nothing else can tell the model or the dialect: say the engine is not there (yet);
        # the model service tries again with backoff
        raise RemoteError(
            f"cannot ask the engine what it serves: {found.unreachable}", unreachable=True
        )
    return found


def _told(
    settings: Settings, found: discover.Discovered, engine: RemoteEngine
) -> dict[str, object]:
    """What an openai or ollama engine told about its model and context, for the status;
    Ollama's requests are given their window (``_ollama_window``)."""
    told: dict[str, object] = {
        "modelFrom": "setting" if settings.remote_model else "engine" if found.model else "",
        "nCtxTold": found.n_ctx,
        "nCtxFrom": found.n_ctx_from,
    }
    if len(found.models) > 1:
        told["models"] = found.models[:MODELS_SHOWN]
    if settings.engine == "ollama":
        told["numCtxSent"] = _ollama_window(engine, found)
    return told


def _ollama_window(engine: RemoteEngine, found: discover.Discovered) -> int:
    """The window each Ollama request asks for (``options.num_ctx``; 0 = none): our budget,
    unless the model sets its own ``num_ctx`` (our budget then fits in it, and asking for
    another window would reload the model). See ``discover``'s docstring."""
    if found.num_ctx:
        return 0
    window = functools.partial(_ollama_body, num_ctx=engine.n_ctx)
    engine.protocol = replace(engine.protocol, body=window)
    return engine.n_ctx


def _slot(setting: int, found: discover.Discovered | None) -> int | None:
    """The slot to keep to: the one set (if the server has it), one at random, or none. Also
    the rule a llama-server's pin is picked again by after it restarted (``recovery``)."""
    if found is None or setting == -2:
        return None
    if setting >= 0 and not found.total_slots:  # no /props, or it does not say its slots
        log.warning("remoteSlot %d: the server does not say its slots; not pinned", setting)
        return None
    if setting >= 0:
        if setting >= found.total_slots:
            log.warning(
                "remoteSlot %d: the server has %d slots; not pinned", setting, found.total_slots
            )
            return None
        return setting
    return discover.pick_slot(found.total_slots)


def _name_dialect(name: str) -> str:
    """The FIM dialect a model's name tells, "" when it tells none."""
    try:
        return dialect_name("auto", name, "")
    except ValueError:
        return ""


def _named(settings: Settings) -> bool:
    """Whether the settings alone tell the dialect (set, or a model name that says it) and,
    for ``openai`` and ``ollama``, the model (which the requests must name)."""
    if settings.engine != "llama-server" and not settings.remote_model:
        return False
    if settings.remote_fim_dialect and settings.remote_fim_dialect != "auto":
        return True
    try:
        dialect_name("auto", settings.remote_model, settings.remote_url)
    except ValueError:
        return False
    return True


def _dialect(settings: Settings, found: discover.Discovered, model: str) -> tuple[str, str]:
    """The FIM dialect and where it came from: the setting, the engine's own vocabulary
    (llama-server) or template (ollama), or the model's name (the setting's, else the one the
    engine reports, with vLLM's root or Ollama's architecture)."""
    if settings.remote_fim_dialect and settings.remote_fim_dialect != "auto":
        return settings.remote_fim_dialect, "setting"
    if found.dialect:
        return found.dialect, "template" if settings.engine == "ollama" else "vocabulary"
    by_name = _name_dialect(f"{model} {found.hint}")
    return by_name or dialect_name("auto", model, settings.remote_url), "name"
