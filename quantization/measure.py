"""One GGUF file's speed, memory and perplexity, measured in a child process of its own.

    python -m quantization.measure FILE [--threads N] [--ctx N] [--gpu-layers N]

prints one JSON object. It runs in its own process so that ``ru_maxrss`` (peak resident set,
the mmapped weights that were touched included) belongs to this file alone, and it imports only
llama_cpp, numpy and the server's own loader (``open_llama``: the same CPU kernels as the
server); no torch in the measured process.

- load_s: ``Llama(...)`` construction (the caller warms the page cache first).
- peak_rss_mb: ``ru_maxrss`` after load + the prompt and generation runs, with the server's
  context size (``--ctx``, 4096; less when the model was trained for less).
- prompt_tps: median of ``--repeats`` (3) evaluations of the first ``PROMPT_TOKENS`` tokens
  of the held-out text from an empty cache. gen_tps: median of as many greedy runs of
  ``GEN_TOKENS`` tokens after it, one ``eval`` per token.
- perplexity: the held-out text (``data/heldout_code.txt``) cut into windows of ``PPL_CTX``
  tokens (at most ``--ppl-windows``, 8); as in llama.cpp's perplexity tool, each window is evaluated
  from an empty cache and only the tokens of its second half are scored, so every scored token
  has at least ``PPL_CTX / 2`` tokens of context. ppl = exp(mean NLL); bits_per_byte =
  total NLL / ln 2 / the UTF-8 bytes those tokens cover (comparable across tokenizers).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HELDOUT = Path(__file__).resolve().parent / "data" / "heldout_code.txt"
PROMPT_TOKENS = 256
GEN_TOKENS = 64
PPL_CTX = 512
PPL_WINDOWS = 8
REPEATS = 3


def _last_logits(llm) -> np.ndarray:
    import llama_cpp

    ptr = llama_cpp.llama_get_logits_ith(llm.ctx, -1)
    return np.ctypeslib.as_array(ptr, shape=(llm.n_vocab(),))


def _speed(llm, tokens: list[int], repeats: int) -> tuple[float, float]:
    prompt = tokens[:PROMPT_TOKENS]
    prompt_runs, gen_runs = [], []
    for _ in range(repeats):
        llm.reset()
        started = time.perf_counter()
        llm.eval(prompt)
        prompt_runs.append(len(prompt) / (time.perf_counter() - started))
        token = int(np.argmax(_last_logits(llm)))
        started = time.perf_counter()
        for _ in range(GEN_TOKENS):
            llm.eval([token])
            token = int(np.argmax(_last_logits(llm)))
        gen_runs.append(GEN_TOKENS / (time.perf_counter() - started))
    return statistics.median(prompt_runs), statistics.median(gen_runs)


def _perplexity(
    path: str, tokens: list[int], threads: int, gpu_layers: int, max_windows: int
) -> dict:
    from lsp_server.engine.llama import open_llama

    llm = open_llama(
        path,
        n_ctx=PPL_CTX,
        n_batch=PPL_CTX,
        n_threads=threads,
        n_gpu_layers=gpu_layers,
        logits_all=True,
    )
    nll, scored, nbytes = 0.0, 0, 0
    windows = min(max_windows, len(tokens) // PPL_CTX)
    for w in range(windows):
        chunk = tokens[w * PPL_CTX : (w + 1) * PPL_CTX]
        llm.reset()
        llm.eval(chunk)
        logits = llm.scores  # float32 (n_ctx, n_vocab), one row per evaluated token
        first = PPL_CTX // 2
        for i in range(first, len(chunk)):
            row = logits[i - 1].astype(np.float64)
            top = row.max()
            log_z = top + math.log(np.exp(row - top).sum())
            nll += log_z - row[chunk[i]]
        scored += len(chunk) - first
        nbytes += len(llm.detokenize(chunk[first:]))
    llm.close()
    if not scored:
        return {"perplexity": None, "ppl_tokens": 0, "bits_per_byte": None}
    return {
        "perplexity": math.exp(nll / scored),
        "ppl_tokens": scored,
        "ppl_windows": windows,
        "bits_per_byte": nll / math.log(2) / nbytes,
    }


def measure(
    path: str,
    threads: int,
    ctx: int,
    gpu_layers: int = 0,
    repeats: int = REPEATS,
    ppl_windows: int = PPL_WINDOWS,
) -> dict:
    from lsp_server.engine.llama import open_llama

    started = time.perf_counter()
    llm = open_llama(path, n_ctx=ctx, n_threads=threads, n_gpu_layers=gpu_layers)
    load_s = time.perf_counter() - started
    ctx = min(ctx, llm.n_ctx())
    text = HELDOUT.read_text(encoding="utf-8")
    tokens = llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)
    prompt_tps, gen_tps = _speed(llm, tokens, repeats)
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    llm.close()
    del llm
    result = {
        "file": path,
        "size": os.path.getsize(path),
        "load_s": load_s,
        "peak_rss_mb": peak_rss_mb,
        "prompt_tps": prompt_tps,
        "gen_tps": gen_tps,
        "n_ctx": ctx,
        "threads": threads,
        "gpu_layers": gpu_layers,
        "heldout_tokens": len(tokens),
    }
    result.update(_perplexity(path, tokens, threads, gpu_layers, ppl_windows))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m quantization.measure")
    parser.add_argument("file")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--ctx", type=int, default=4096)
    parser.add_argument("--gpu-layers", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=REPEATS, help="speed runs (median)")
    parser.add_argument("--ppl-windows", type=int, default=PPL_WINDOWS)
    args = parser.parse_args(argv)
    result = measure(
        args.file, args.threads, args.ctx, args.gpu_layers, args.repeats, args.ppl_windows
    )
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
