"""The wire protocols of the remote engines: each one's path, request body, and how its
streamed events say the new text, the end and the prompt tokens it evaluated (llama-server's
``/completion``, OpenAI's ``/v1/completions``, Ollama's raw ``/api/generate``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lsp_server.engine.base import GenerationRequest


@dataclass
class Protocol:
    path: str
    body: Callable[[str, GenerationRequest, str, list[str]], dict[str, Any]]
    text: Callable[[dict[str, Any]], str]  # the new text in one streamed event
    done: Callable[[dict[str, Any]], bool]
    evaluated: Callable[[dict[str, Any]], int | None]  # prompt tokens the engine computed


def _openai_body(prompt: str, r: GenerationRequest, model: str, stops: list[str]) -> dict:
    return {
        "model": model,
        "prompt": prompt,
        "max_tokens": r.max_tokens,
        "temperature": r.temperature,
        "stream": True,
        "stop": stops[:4],  # the OpenAI API takes at most four
    }


def _openai_text(event: dict) -> str:
    choices = event.get("choices") or [{}]
    return str(choices[0].get("text") or "")


def _llama_server_body(prompt: str, r: GenerationRequest, _model: str, stops: list[str]) -> dict:
    return {
        "prompt": prompt,
        "n_predict": r.max_tokens,
        "temperature": r.temperature,
        "top_k": 40,
        "stream": True,
        "stop": stops,
        "cache_prompt": True,  # llama-server keeps the KV of the common prefix across requests
        "timings_per_token": True,  # prompt_n in the first event: an answer stopped early has it
    }


def _ollama_body(
    prompt: str, r: GenerationRequest, model: str, stops: list[str], num_ctx: int = 0
) -> dict:
    """``num_ctx`` (> 0): the window Ollama runs the model with, which it otherwise picks
    itself and cuts longer prompts to, silently (``connect`` sets it to our budget when the
    model does not set its own; see ``discover``)."""
    options: dict[str, Any] = {"num_predict": r.max_tokens, "temperature": r.temperature}
    options["stop"] = stops
    if num_ctx > 0:
        options["num_ctx"] = num_ctx
    return {
        "model": model,
        "prompt": prompt,
        "raw": True,  # our FIM prompt, not Ollama's template
        "stream": True,
        "options": options,
    }


PROTOCOLS: dict[str, Protocol] = {
    "openai": Protocol(
        "/v1/completions",
        _openai_body,
        _openai_text,
        lambda e: bool((e.get("choices") or [{}])[0].get("finish_reason")),
        lambda e: (e.get("usage") or {}).get("prompt_tokens"),
    ),
    "llama-server": Protocol(
        "/completion",
        _llama_server_body,
        lambda e: str(e.get("content") or ""),
        lambda e: bool(e.get("stop")),
        lambda e: (e.get("timings") or {}).get("prompt_n"),
    ),
    "ollama": Protocol(
        "/api/generate",
        _ollama_body,
        lambda e: str(e.get("response") or ""),
        lambda e: bool(e.get("done")),
        lambda e: e.get("prompt_eval_count"),
    ),
}
