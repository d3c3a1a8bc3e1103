"""Engine rates: prompt and generation tokens/s of the embedded models under llama.cpp options,
measured in ONE run against today's settings (issue "speed", item 2).

For each configuration (a model file plus ``Llama`` options such as ``flash_attn`` or a q8_0 KV
cache) the script loads the model the way the server does (``engine.llama.open_llama``), then on a
real source file (CPython's ``textwrap.py``):

- prompt: evaluates ``--prompt-tokens`` tokens in the server's chunks (``PROMPT_CHUNK``), 3 times
  from an empty cache, median tokens/s;
- generation: ``--gen-tokens`` greedy tokens one decode each after that prompt (what a suggestion
  costs), median tokens/s of 3;
- verify: one decode of a batch of k tokens with logits for every row (what speculative decoding's
  target pays per round), ms for k = 1, 4, 8;
- load time.

    python -m benchmarks.b_engine_rates      # both models: today's options, then each option
    python -m benchmarks.b_engine_rates --models 1.5b --configs base,flash
    python -m benchmarks.b_engine_rates --file q4_0=/tmp/q4_0.gguf   # an extra GGUF file

With ``--speculation``: generation tokens/s of the 1.5B (the server's engine, ``LlamaEngine``)
with ``speculation`` off, lookup and draft (the 0.5B drafting), greedy, on 5 FIM sites of
``textwrap.py`` (64 tokens each) and 3 fix prompts (the 1.5B's chat template asked to rewrite a
function of ``textwrap.py`` with one operator changed: what the fix action generates), same run;
whether each answer equals the plain one token for token.

    python -m benchmarks.b_engine_rates --speculation

Full output to ``benchmarks/results/engine-rates.json``; the table is printed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import sysconfig
import time
from pathlib import Path
from typing import Any

from benchmarks.common import RESULTS

# name -> Llama options on top of the server's own (``open_llama``).
CONFIGS: dict[str, dict[str, Any]] = {
    "base": {},  # today's settings
    "flash": {"flash_attn": True},
    "kv-q8": {"flash_attn": True, "type_k": 8, "type_v": 8},  # GGML_TYPE_Q8_0 = 8
    "no-mmap": {"use_mmap": False},
}


def source_text() -> str:
    return (Path(sysconfig.get_paths()["stdlib"]) / "textwrap.py").read_text(encoding="utf-8")


def model_path(selector: str) -> str:
    from lsp_server.model.resolve import resolve_model

    return str(resolve_model(None, embedded=selector).path)


def _decode_all(llm, tokens: list[int]) -> None:
    """One decode of ``tokens`` at the cache's end with logits for every row (a verify batch)."""
    batch = llm._batch
    batch.set_batch(batch=tokens, n_past=llm.n_tokens, logits_all=True)
    llm._ctx.decode(batch)
    llm.input_ids[llm.n_tokens : llm.n_tokens + len(tokens)] = tokens
    llm.n_tokens += len(tokens)


def measure(path: str, options: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    import numpy as np

    from lsp_server.engine.llama import PROMPT_CHUNK, open_llama

    started = time.perf_counter()
    llm = open_llama(path, n_ctx=4096, n_threads=args.threads, **options)
    load_s = time.perf_counter() - started
    tokens = llm.tokenize(source_text().encode(), add_bos=False)[: args.prompt_tokens]
    n_vocab = llm.n_vocab()

    def reset() -> None:
        llm.n_tokens = 0
        llm._ctx.kv_cache_seq_rm(-1, 0, -1)

    prompt_rates, gen_rates = [], []
    for _ in range(args.repeats):
        reset()
        t0 = time.perf_counter()
        for start in range(0, len(tokens), PROMPT_CHUNK):
            llm.eval(tokens[start : start + PROMPT_CHUNK])
        prompt_rates.append(len(tokens) / (time.perf_counter() - t0))
        t0 = time.perf_counter()
        for _ in range(args.gen_tokens):
            logits = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(n_vocab,))
            llm.eval([int(np.argmax(logits))])
        gen_rates.append(args.gen_tokens / (time.perf_counter() - t0))
    verify: dict[str, float] = {}
    for k in (1, 4, 8):
        times = []
        for _ in range(args.repeats):
            reset()
            llm.eval(tokens[:256])
            t0 = time.perf_counter()
            _decode_all(llm, tokens[256 : 256 + k])
            times.append((time.perf_counter() - t0) * 1000)
        verify[str(k)] = round(statistics.median(times), 1)
    llm.close()
    return {
        "loadS": round(load_s, 2),
        "promptTps": round(statistics.median(prompt_rates), 1),
        "genTps": round(statistics.median(gen_rates), 2),
        "verifyMs": verify,
    }


FIM_SITES = (120, 200, 260, 330, 400)  # lines of textwrap.py
FIX_FUNCTIONS = ("_split_chunks", "_fix_sentence_endings", "shorten")


def speculation_prompts(engine) -> dict[str, list[list[int]]]:
    """Token prompts per kind: FIM sites, and fix prompts in the model's chat template."""
    import ast

    from lsp_server.prompt.chat import render

    text = source_text()
    lines = text.splitlines(keepends=True)
    fim = [
        engine.dialect.build(
            engine.tokenize("".join(lines[at - 60 : at])),
            engine.tokenize("".join(lines[at : at + 20])),
        )
        for at in FIM_SITES
    ]
    fix = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.FunctionDef) and node.name in FIX_FUNCTIONS:
            body = "".join(lines[node.lineno - 1 : node.end_lineno])
            broken = body.replace(" - ", " + ", 1) if " - " in body else body.replace("==", "!=", 1)
            messages = [
                {"role": "system", "content": "You fix bugs in Python functions."},
                {
                    "role": "user",
                    "content": f"This function has one bug. Write the whole fixed function.\n\n"
                    f"```python\n{broken}```",
                },
            ]
            rendered = render(messages, engine.chat_template, language="python")
            fix.append(engine.tokenize(rendered, special=True))
    return {"fim": fim, "fix": fix}


def measure_speculation(args: argparse.Namespace) -> list[dict[str, Any]]:
    from lsp_server.engine.base import CancelToken, GenerationRequest
    from lsp_server.engine.llama import LlamaEngine
    from lsp_server.model.default import QWEN_05B, QWEN_15B
    from lsp_server.model.resolve import resolve_embedded

    def load(model, **options) -> LlamaEngine:
        resolved = resolve_embedded(model)
        return LlamaEngine(
            str(resolved.path), resolved.dialect, n_ctx=4096, n_threads=args.threads, **options
        )

    engine = load(QWEN_15B, speculation="draft")
    why = engine.attach_draft(load(QWEN_05B))
    if why:
        raise SystemExit(f"the 0.5B cannot draft for the 1.5B: {why}")
    rows = []
    plain_answers: dict[tuple[str, int], list[int]] = {}
    for kind, prompts in speculation_prompts(engine).items():
        max_tokens = 64 if kind == "fim" else 256
        for mode in ("off", "lookup", "draft"):
            engine.speculation = mode
            tokens = ms = drafted = agreed = same = 0
            for i, prompt in enumerate(prompts):
                for e in (engine, engine.draft):
                    e._trim(0)
                engine.warm(GenerationRequest(prompt, max_tokens=1), CancelToken())
                g = engine.generate(GenerationRequest(prompt, max_tokens=max_tokens), CancelToken())
                tokens, ms = tokens + g.generated_tokens, ms + g.generate_ms
                drafted, agreed = drafted + engine.drafted_tokens, agreed + engine.agreed_tokens
                same += plain_answers.setdefault((kind, i), g.tokens) == g.tokens
            rows.append(
                {
                    "kind": kind,
                    "mode": mode,
                    "prompts": len(prompts),
                    "tokens": tokens,
                    "genTps": round(tokens / (ms / 1000), 2),
                    "drafted": drafted,
                    "agreed": agreed,
                    "samePrompts": same,
                }
            )
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    engine.close()
    return rows


def print_speculation(rows: list[dict[str, Any]]) -> None:
    plain = {r["kind"]: r["genTps"] for r in rows if r["mode"] == "off"}
    print(
        f"{'prompts':8} {'speculation':12} {'tokens':>7} {'gen t/s':>8} {'vs off':>7} "
        f"{'agreed/drafted':>15} {'same answer':>12}"
    )
    for r in rows:
        print(
            f"{r['kind']:8} {r['mode']:12} {r['tokens']:7} {r['genTps']:8.2f} "
            f"{r['genTps'] / plain[r['kind']]:6.2f}x {r['agreed']:>7}/{r['drafted']:<7} "
            f"{r['samePrompts']:>5}/{r['prompts']}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="0.5b,1.5b", help="embedded models (comma list)")
    parser.add_argument("--configs", default=",".join(CONFIGS), help="of: " + ", ".join(CONFIGS))
    parser.add_argument("--file", action="append", default=[], help="LABEL=PATH extra GGUF")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--prompt-tokens", type=int, default=512)
    parser.add_argument("--gen-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS / "engine-rates.json")
    parser.add_argument(
        "--speculation", action="store_true", help="speculative decoding of the 1.5B instead"
    )
    args = parser.parse_args(argv)
    if args.speculation:
        rows = measure_speculation(args)
        out = args.out.with_name(args.out.stem + "-speculation.json")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(rows, indent=1), encoding="utf-8")
        print_speculation(rows)
        return 0

    files = [(m, model_path(m)) for m in args.models.split(",") if m]
    files += [tuple(spec.split("=", 1)) for spec in args.file]  # type: ignore[misc]
    rows = []
    for label, path in files:
        for config in args.configs.split(","):
            result = measure(path, CONFIGS[config], args)
            rows.append({"model": label, "config": config, **result})
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    print(
        f"{'model':10} {'config':8} {'load s':>7} {'prompt t/s':>11} {'gen t/s':>8} "
        f"{'verify k=1/4/8 ms':>20}"
    )
    for row in rows:
        v = row["verifyMs"]
        print(
            f"{row['model']:10} {row['config']:8} {row['loadS']:7.2f} {row['promptTps']:11.1f} "
            f"{row['genTps']:8.2f} {v['1']:>6}/{v['4']}/{v['8']}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
