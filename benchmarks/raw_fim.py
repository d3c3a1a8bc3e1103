"""The naive raw-model baseline: one PSM prompt straight into llama.cpp, no server, no filters.

Why it exists: BENCHMARKS.md asks every number to be compared with a baseline measured in the
SAME run. This is what "just call the model" gives: ``<|fim_prefix|>`` + prefix +
``<|fim_suffix|>`` + suffix + ``<|fim_middle|>`` (Qwen2.5-Coder's FIM tokens, tokenized with
``special=True``), greedy, at most 48 tokens, stopped at the first newline after content. Leading
blank lines are dropped and the first content line is kept. The prefix ends at the START of the
masked line, so the model writes the line with its own indentation.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass

FIM_PREFIX, FIM_SUFFIX, FIM_MIDDLE = "<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"
# Control tokens that end a Qwen2.5-Coder infill (besides the model's EOS).
STOP_TEXTS = (
    "<|endoftext|>",
    "<|fim_pad|>",
    "<|file_sep|>",
    "<|repo_name|>",
    "<|im_end|>",
    FIM_PREFIX,
    FIM_SUFFIX,
    FIM_MIDDLE,
)
MAX_TOKENS = 48


def default_model_path() -> str:
    """Ask the server's own CLI which GGUF it would use (joining the embedded one if needed)."""
    proc = subprocess.run(
        [sys.executable, "-m", "lsp_server", "model", "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"`python -m lsp_server model --json` failed:\n{proc.stderr.strip()}")
    return json.loads(proc.stdout)["path"]


@dataclass
class RawResult:
    text: str  # the kept line ("" = nothing)
    prompt_tokens: int
    generated_tokens: int
    latency_ms: float


class RawFim:
    """llama_cpp.Llama with a fresh full prompt evaluation per request (no KV reuse)."""

    def __init__(
        self, model_path: str, *, n_threads: int, n_ctx: int = 4096, n_gpu_layers: int = 0
    ) -> None:
        from lsp_server.engine.llama import open_llama  # same CPU kernels as the server

        self.llm = open_llama(
            model_path, n_ctx=n_ctx, n_threads=n_threads, n_gpu_layers=n_gpu_layers
        )
        self.stop_ids = {self.llm.token_eos()}
        for text in STOP_TEXTS:
            ids = self.llm.tokenize(text.encode(), add_bos=False, special=True)
            if len(ids) == 1:
                self.stop_ids.add(ids[0])

    def complete(self, prefix: str, suffix: str) -> RawResult:
        started = time.perf_counter()
        prompt = f"{FIM_PREFIX}{prefix}{FIM_SUFFIX}{suffix}{FIM_MIDDLE}"
        tokens = self.llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
        self.llm.reset()  # the naive baseline: no KV reuse between requests
        out = bytearray()
        generated = 0
        for token in self.llm.generate(tokens, temp=0.0, top_k=1, reset=True):
            if token in self.stop_ids or generated >= MAX_TOKENS:
                break
            generated += 1
            out += self.llm.detokenize([token])
            if b"\n" in out and _first_content_line(out, complete_only=True):
                break
        latency_ms = (time.perf_counter() - started) * 1000
        return RawResult(_first_content_line(out), len(tokens), generated, latency_ms)


def _first_content_line(out: bytes | bytearray, complete_only: bool = False) -> str:
    """The first line with non-blank text (its indentation kept); ``complete_only``: only if a
    newline already ends it."""
    lines = out.decode("utf-8", errors="replace").split("\n")
    if complete_only:
        lines = lines[:-1]
    return next((line.rstrip("\r") for line in lines if line.strip()), "")


def threads_default() -> int:
    """The server's default (physical cores), so raw and server runs get the same CPU."""
    from lsp_server.settings import Settings

    return Settings().effective_threads()
