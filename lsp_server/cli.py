"""Command line: serve LSP (default), ``complete FILE:LINE:COL``, ``fix FILE:LINE``, ``model``,
``stats``.

stdout belongs to the LSP channel when serving; everything human goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time

from lsp_server import __version__, terminate

EXIT_USAGE = 2
EXIT_FAILED = 1


def _progress_bar(label: str):
    """A stderr progress bar for joining the embedded model (~0.5 GB, a few seconds)."""
    state = {"last": -1}
    step = 1 if sys.stderr.isatty() else 10  # a log file gets a line per 10%, not per 1%

    def report(done: int, total: int) -> None:
        pct = int(done * 100 / total) if total else 100
        if pct != state["last"] and (pct % step == 0 or pct == 100):
            state["last"] = pct
            bar = "#" * (pct // 4)
            end = "\n" if pct >= 100 or step > 1 else ""
            print(f"\r{label} [{bar:<25}] {pct:3d}%", end=end, file=sys.stderr, flush=True)

    return report


def _parse_location(spec: str) -> tuple[str, int, int]:
    """FILE:LINE:COL with 1-based line and column, as compilers print them."""
    try:
        path, line, col = spec.rsplit(":", 2)
        line_no, col_no = int(line), int(col)
    except ValueError:
        raise SystemExit(f"infill-lsp: expected FILE:LINE:COL (1-based), got {spec!r}") from None
    if line_no < 1 or col_no < 1:
        raise SystemExit(f"infill-lsp: LINE and COL are 1-based, got {line_no}:{col_no}")
    return path, line_no, col_no


def _read_text(path: str) -> str | None:
    """The file's text with LF line ends, or None after telling the user why not."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
        return data.decode("utf-8").replace("\r\n", "\n")
    except OSError as exc:
        print(f"infill-lsp: cannot read {path}: {exc.strerror}", file=sys.stderr)
    except UnicodeDecodeError as exc:
        print(
            f"infill-lsp: {path} is not UTF-8 text ({exc.reason} at byte {exc.start})",
            file=sys.stderr,
        )
    return None


def _load(settings):
    """The engine, with a progress bar while the embedded model is joined; None on failure."""
    from lsp_server.loader import load_engine
    from lsp_server.model.resolve import ModelError

    try:
        return load_engine(settings, _progress_bar("joining model"))
    except (ModelError, ValueError) as exc:
        print(f"infill-lsp: {exc}", file=sys.stderr)
        return None


def _settings(args: argparse.Namespace, one_shot: bool = True):
    from lsp_server.services.config import Config

    # A one-shot command waits for its answer anyway: no time cap on generation (the editor's
    # per-keystroke cap, maxTimeMs, would cut the answer on a busy machine); --set overrides.
    # (``model`` keeps the editor's default: it is the budget ``model: auto`` judges against.)
    raw: dict[str, object] = {"modelPath": args.model or ""}
    if one_shot:
        raw["maxTimeMs"] = 0
    if getattr(args, "gpu_layers", None) is not None:
        raw["nGpuLayers"] = args.gpu_layers
    for item in getattr(args, "set", None) or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"infill-lsp: --set expects KEY=VALUE (JSON value), got {item!r}")
        try:
            raw[key.strip()] = json.loads(value)
        except ValueError:
            raw[key.strip()] = value  # a bare string
    applied = Config().apply(raw, "--set")
    if applied.errors:
        raise SystemExit("; ".join(applied.errors))
    return applied.new


def cmd_model(args: argparse.Namespace) -> int:
    """The model the server would load with these settings, and why (``model: auto``: the
    verdict and its numbers); ``--measure`` measures the 1.5B first."""
    from lsp_server import loader
    from lsp_server.model.resolve import ModelError, resolve_model

    settings = _settings(args, one_shot=False)
    if settings.engine != "local":
        return _remote_model(settings, args.json)
    measured = None
    if args.measure:
        measured = _measure(settings)
        if measured is None:
            return EXIT_FAILED
    explicit, spec, choice = loader.plan(settings)
    try:
        resolved = resolve_model(
            explicit or None, progress=_progress_bar("joining model"), embedded=spec
        )
    except ModelError as exc:
        print(f"infill-lsp: {exc}", file=sys.stderr)
        return EXIT_FAILED
    info: dict[str, object] = {
        "path": str(resolved.path),
        "verified": resolved.verified,
        "source": resolved.source,
        "dialect": resolved.dialect.name,
        "size": resolved.size,
    }
    if args.json:
        if choice is not None:
            info["choice"] = choice.describe()
        if measured is not None:
            info["measured"] = measured.describe()
        print(json.dumps(info, indent=2))
        return 0
    for key, value in info.items():
        print(f"{key:9} {value}")
    if choice is not None:
        print(f"{'serves':9} {choice.picked} (model: {choice.setting}): {choice.reason}")
        verdict = choice.verdict
        if verdict is not None:
            trust = "trusted" if verdict.trusted else f"not trusted: {verdict.distrust}"
            print(f"{'measured':9} {verdict.summary()}; {trust}")
        if choice.measuring:
            print(
                f"{'':9} the server serves the 0.5B at once and measures the 1.5B in idle "
                "time; `infill-lsp model --measure` measures it now"
            )
    return 0


def _remote_model(settings, as_json: bool) -> int:
    """``model`` with a remote engine: connected, what it was asked and told (the model, its
    dialect and where it came from, its context), as ``infill/status`` shows it."""
    from lsp_server.engine.base import EngineError
    from lsp_server.loader import load_engine

    try:
        loaded = load_engine(settings)
    except (EngineError, ValueError) as exc:
        print(f"infill-lsp: {exc}", file=sys.stderr)
        return EXIT_FAILED
    info = loaded.describe()
    loaded.engine.close()
    if as_json:
        print(json.dumps(info, indent=2))
    else:
        for key, value in info.items():
            print(f"{key:11} {value}")
    return 0


def _measure(settings):
    """``model --measure``: load the 1.5B, time a keystroke, remember the verdict when it can
    be trusted. The verdict, or None after telling the user why there is none."""
    from lsp_server import loader
    from lsp_server.model.choice import installed
    from lsp_server.model.default import QWEN_15B
    from lsp_server.model.resolve import ModelError

    if not installed(QWEN_15B):
        print(
            f"infill-lsp: {QWEN_15B.title} is not installed ({QWEN_15B.install_command}); "
            "nothing to measure",
            file=sys.stderr,
        )
        return None
    try:
        big = loader.load_candidate(
            settings, loader.resolve_candidate(_progress_bar("joining model"))
        )
    except (ModelError, ValueError, OSError) as exc:
        print(f"infill-lsp: {exc}", file=sys.stderr)
        return None
    print("measuring the 1.5B (a few seconds; keep the machine otherwise idle)", file=sys.stderr)
    try:
        verdict = loader.measure(big.engine, settings)
    except Exception as exc:  # a llama.cpp failure: said in one line, not a traceback
        print(f"infill-lsp: the 1.5B could not be measured: {exc}", file=sys.stderr)
        return None
    finally:
        big.engine.close()
    if verdict.trusted:
        fits = "fits" if verdict.ok else "does not fit"
        print(f"1.5B: {verdict.summary()}; trusted; {fits} the budget; remembered", file=sys.stderr)
    else:
        print(
            f"1.5B: {verdict.summary()}; not trusted ({verdict.distrust}), so not remembered: "
            "measure again when the machine is idle",
            file=sys.stderr,
        )
    return verdict


def cmd_complete(args: argparse.Namespace) -> int:
    from lsp_server.completion import Completer
    from lsp_server.context.types import Snapshot
    from lsp_server.engine.base import CancelToken
    from lsp_server.syntax.languages import normalise

    path, line_no, col_no = _parse_location(args.location)
    text = _read_text(path)
    if text is None:
        return EXIT_FAILED
    lines = text.split("\n")
    if line_no > len(lines) or col_no - 1 > len(lines[line_no - 1]):
        print(f"infill-lsp: {line_no}:{col_no} is outside {path}", file=sys.stderr)
        return EXIT_FAILED
    offset = sum(len(line) + 1 for line in lines[: line_no - 1]) + col_no - 1
    settings = _settings(args)
    started = time.perf_counter()
    loaded = _load(settings)
    if loaded is None:
        return EXIT_FAILED
    load_s = time.perf_counter() - started
    snapshot = Snapshot(text, offset, normalise(args.language, path), os.path.abspath(path))
    result = Completer(loaded.engine).complete(snapshot, CancelToken(), settings)
    terminate.answer(result.text + "\n")
    print(
        f"[model {loaded.engine.name} loaded in {load_s:.1f}s; {result.stats()}]",
        file=sys.stderr,
    )
    return 0


def cmd_fix(args: argparse.Namespace) -> int:
    """``fix FILE:LINE``: the fix action on the function at LINE, printed as a unified diff."""
    import difflib

    from lsp_server.engine.base import CancelToken
    from lsp_server.fix.answer import replace_function
    from lsp_server.fix.fixer import Fixer
    from lsp_server.fix.function import find_function
    from lsp_server.fix.verify import NamedTests
    from lsp_server.prompt.chat import FixRequest
    from lsp_server.syntax.languages import normalise

    path, _, line = args.location.rpartition(":")
    if not path or not line.isdigit() or int(line) < 1:
        raise SystemExit(f"infill-lsp: expected FILE:LINE (1-based), got {args.location!r}")
    text = _read_text(path)
    if text is None:
        return EXIT_FAILED
    lines = text.split("\n")
    if int(line) > len(lines):
        print(f"infill-lsp: line {line} is outside {path}", file=sys.stderr)
        return EXIT_FAILED
    offset = sum(len(x) + 1 for x in lines[: int(line) - 1])
    offset += len(lines[int(line) - 1]) - len(lines[int(line) - 1].lstrip())
    language = normalise(args.language, path)
    function = find_function(text, language, offset)
    if function is None:
        print(f"infill-lsp: line {line} of {path} is not inside a function", file=sys.stderr)
        return EXIT_FAILED
    settings = _settings(args)
    loaded = _load(settings)
    if loaded is None:
        return EXIT_FAILED
    request = FixRequest(
        language,
        function.text,
        function.name,
        os.path.abspath(path),
        function.context,
        instruction=args.instruction or "",
    )
    tests = None
    if args.test:
        timeout_s = settings.fix_test_timeout_ms / 1000
        tests = NamedTests(tuple(args.test), os.path.abspath(path), os.getcwd(), timeout_s)
    fixer = Fixer(loaded.engine, settings)
    outcome = fixer.fix(text, function, request, CancelToken(), tests=tests)
    print(f"[{outcome.message}; {outcome.total_ms / 1000:.1f}s]", file=sys.stderr)
    if outcome.new_text is None:
        return EXIT_FAILED if outcome.message.startswith("no fix") else 0
    fixed = replace_function(text, function, outcome.new_text)
    diff = difflib.unified_diff(
        text.splitlines(keepends=True), fixed.splitlines(keepends=True), path, path
    )
    terminate.answer("".join(diff))
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    """``stats``: the acceptance statistics as a table (``lsp_server.stats.report``)."""
    from lsp_server.stats import report

    return report.run(args.since, args.by, args.json, args.delete)


def cmd_serve(args: argparse.Namespace) -> int:
    from lsp_server.server import build_server

    server = build_server()
    services = server.services

    def stop_at_once() -> None:
        """SIGTERM: cancel and tell, wait for nothing (``terminate``) but the last seconds of
        acceptance statistics (a few rows; at most the store's 1 s busy timeout)."""
        services.model.shutdown()
        services.index.stop(wait=False)
        services.stats.shutdown()

    async def sent() -> None:  # over TCP: the messages written so far leave first
        await terminate.drained(server.protocol.writer)

    terminate.stop_on_sigterm(stop_at_once, sent if args.tcp else None)
    if args.model:  # before initializationOptions, which may name another model
        applied = server.services.apply_settings({"modelPath": args.model}, "--model")
        if applied.errors:
            raise SystemExit("; ".join(applied.errors))
    if args.tcp:
        host, _, port = args.tcp.rpartition(":")
        server.start_tcp(host or "127.0.0.1", int(port))
        return 0
    # Keep the real stdout for JSON-RPC only, and point fd 1 at stderr, so nothing a native
    # library prints can corrupt the LSP channel.
    lsp_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    server.start_io(sys.stdin.buffer, lsp_out)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="infill-lsp",
        description="Language server for inline fill-in-the-middle completions (stdio by default).",
    )
    parser.add_argument("--version", action="version", version=f"infill-lsp {__version__}")
    parser.add_argument("--stdio", action="store_true", help="serve over stdio (the default)")
    parser.add_argument("--tcp", metavar="HOST:PORT", help="serve over TCP instead of stdio")
    parser.add_argument("--model", help="path to a GGUF model (overrides INFILL_LSP_MODEL)")
    parser.add_argument("--log-level", default="WARNING", help="stderr log level")
    sub = parser.add_subparsers(dest="command")
    complete = sub.add_parser(
        "complete", help="complete FILE at LINE:COL and print the insert text"
    )
    complete.add_argument("location", metavar="FILE:LINE:COL", help="1-based line and column")
    complete.add_argument("--model", default=argparse.SUPPRESS, help="path to a GGUF model")
    complete.add_argument("--language", default=None, help="language id (default: from extension)")
    complete.add_argument("--gpu-layers", type=int, default=None, help="layers to offload to GPU")
    complete.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="a server setting, e.g. --set maxTokens=64 (repeatable)",
    )
    fix = sub.add_parser("fix", help="fix the function at FILE:LINE and print a unified diff")
    fix.add_argument("location", metavar="FILE:LINE", help="1-based line inside the function")
    fix.add_argument("--instruction", "-i", default="", help='e.g. "handle empty lists"')
    fix.add_argument(
        "--test",
        "-t",
        action="append",
        default=[],
        metavar="NODEID",
        help="a failing pytest test (node id, from the current directory): shown to the model "
        "and run against each candidate; repeatable",
    )
    fix.add_argument("--model", default=argparse.SUPPRESS, help="path to a GGUF model")
    fix.add_argument("--language", default=None, help="language id (default: from extension)")
    fix.add_argument("--gpu-layers", type=int, default=None, help="layers to offload to GPU")
    fix.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="a server setting, e.g. --set maxTokens=64 (repeatable)",
    )
    sub.add_parser(
        "quantize",
        help="HF StarCoder-family checkpoint -> GGUF -> quantized GGUF, and the B5 report "
        "(infill-lsp quantize --help; needs the quantization extra for convert/tiny)",
        add_help=False,
    )
    model = sub.add_parser(
        "model",
        help="the model the server loads: path, checksum, dialect, and which model serves and why",
    )
    model.add_argument("--model", default=argparse.SUPPRESS, help="path to a GGUF model")
    model.add_argument("--json", action="store_true", help="print JSON")
    model.add_argument(
        "--measure",
        action="store_true",
        help="measure the 1.5B on this machine now (for model: auto), ignoring the verdict "
        "remembered; remember it when the machine was idle enough to trust it",
    )
    model.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="a server setting, e.g. --set nThreads=4 (as the editor sets it; repeatable)",
    )
    stats = sub.add_parser(
        "stats",
        help="acceptance statistics: how often suggestions are accepted, per language, model or "
        "mode, and how much of them stays (counted on this machine, no code text)",
    )
    stats.add_argument("--since", metavar="SPAN", help="only the last SPAN: 7d, 12h, 30m, 2w")
    stats.add_argument("--by", choices=("language", "model", "mode"), help="one row per value")
    stats.add_argument("--json", action="store_true", help="print JSON")
    stats.add_argument("--delete", action="store_true", help="delete the statistics file")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["quantize"]:
        # The toolkit owns its sub-commands and help; this is only its second name.
        from quantization.__main__ import main as quantization_main

        return quantization_main(argv[1:], prog="infill-lsp quantize")
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper(), logging.WARNING),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    one_shot = {"complete": cmd_complete, "fix": cmd_fix, "model": cmd_model, "stats": cmd_stats}
    if args.command not in one_shot:
        return cmd_serve(args)
    try:
        with terminate.raising_on_sigterm():
            return one_shot[args.command](args)
    except terminate.Terminated:
        print(
            f"infill-lsp: {args.command} terminated (SIGTERM); no file was changed",
            file=sys.stderr,
        )
        return terminate.EXIT_TERMINATED


if __name__ == "__main__":
    sys.exit(main())
