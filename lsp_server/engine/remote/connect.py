"""Settings -> a connected remote engine (what ``loader.load_engine`` does for remote kinds)."""

from __future__ import annotations

import functools

from lsp_server.engine.remote.engine import RemoteEngine, dialect_name
from lsp_server.engine.remote.http import Http, RemoteError, api_key_from
from lsp_server.engine.remote.vocab import estimate_pieces, gguf_splitter
from lsp_server.settings import Settings


def _server_splitter(http: Http):
    """Pieces from llama-server's own /tokenize (with_pieces), cached per text."""

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
        try:
            return list(pieces(text))
        except RemoteError:
            return estimate_pieces(text)

    return split


def connect(settings: Settings) -> tuple[RemoteEngine, dict[str, object]]:
    if not settings.remote_url:
        raise ValueError(f"engine {settings.engine!r} needs remoteUrl (e.g. http://gpu-box:8080)")
    http = Http(
        settings.remote_url,
        api_key=api_key_from(settings.remote_api_key_env),
        timeout_s=settings.remote_timeout_ms / 1000,
    )
    if settings.remote_vocab:
        splitter, tokens = gguf_splitter(settings.remote_vocab), "vocab"
    elif settings.engine == "llama-server":
        splitter, tokens = _server_splitter(http), "server"
    else:
        splitter, tokens = estimate_pieces, "estimate"
    dialect = dialect_name(settings.remote_fim_dialect, settings.remote_model, settings.remote_url)
    engine = RemoteEngine(
        settings.engine,
        http,
        model=settings.remote_model,
        dialect=dialect,
        vocab_splitter=splitter,
        n_ctx=settings.context_size,
        max_concurrent=settings.remote_max_concurrent,
        redact=settings.remote_redact,
    )
    description: dict[str, object] = {
        "engine": settings.engine,
        "url": settings.remote_url,
        "model": settings.remote_model,
        "tokens": tokens,
        "redact": settings.remote_redact,
        "apiKey": bool(http.api_key),
    }
    return engine, description
