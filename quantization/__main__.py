"""``python -m quantization`` (also ``infill-lsp quantize ...``): convert, quantize, evaluate,
and the tiny-model pipeline with its parity check. See quantization/README.md."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .errors import QuantizationError

DEFAULT_REPORT = Path("benchmarks/results/b5-table.md")


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _bar(prefix: str):
    tty = sys.stderr.isatty()

    def progress(done: int, total: int, what: str) -> None:
        line = f"{prefix} [{done:>4}/{total}] {what}"
        if tty:
            end = "\n" if done == total else ""
            print(f"\r\x1b[2K{line}", end=end, file=sys.stderr, flush=True)
        else:
            print(line, file=sys.stderr, flush=True)

    return progress


def cmd_convert(args: argparse.Namespace) -> int:
    from .convert import convert

    result = convert(
        args.checkpoint,
        args.output,
        args.outtype,
        name=args.name,
        tokenizer_pre=args.tokenizer_pre,
        progress=None if args.quiet else _bar("convert"),
    )
    for note in result.notes:
        _say(f"note: {note}")
    fim = ", ".join(f"{k}={v}" for k, v in result.fim_ids.items())
    _say(
        f"wrote {result.path} ({result.arch}, {result.outtype.upper()}, {result.n_tensors} "
        f"tensors, {result.n_params:,} parameters, {result.size / 1e6:.1f} MB) in "
        f"{result.seconds:.1f} s; tokenizer pre={result.pre_tokenizer}, FIM ids {fim}"
    )
    try:
        from .pipeline import server_dialect

        _say(f"infill-lsp detects FIM dialect: {server_dialect(result.path)}")
    except Exception as exc:  # the file is written; say why the server would refuse it
        _say(f"warning: infill-lsp cannot use {result.path}: {exc}")
        return 1
    return 0


def cmd_quantize(args: argparse.Namespace) -> int:
    from .quantize import normalize_type, quantize

    src = Path(args.input)
    types = [normalize_type(t) for arg in args.type for t in arg.split(",") if t.strip()]
    if args.output and len(types) > 1:
        raise QuantizationError("-o/--output takes one --type; use --out-dir for several")
    for qtype in types:
        stem = src.stem.removesuffix("-f32").removesuffix("-f16")
        dst = Path(args.output) if args.output else Path(args.out_dir or src.parent)
        if not args.output:
            dst = dst / f"{stem}-{qtype.lower()}.gguf"
        result = quantize(
            src,
            dst,
            qtype,
            nthread=args.threads,
            allow_requantize=args.allow_requantize,
            progress=_bar(qtype),
        )
        for line in result.fallbacks:
            _say(f"note: {line}")
        _say(
            f"wrote {dst} ({qtype}, {result.size_out / 1e6:.1f} MB from "
            f"{result.size_in / 1e6:.1f} MB) in {result.seconds:.1f} s"
        )
    return 0


def _pairs(values: list[str], what: str) -> dict[Path, Path]:
    out: dict[Path, Path] = {}
    for value in values:
        left, sep, right = value.partition("=")
        if not sep:
            raise QuantizationError(f"{what} expects FILE=SUMMARY.json, got {value!r}")
        out[Path(left).expanduser().resolve()] = Path(right)
    return out


def cmd_evaluate(args: argparse.Namespace) -> int:
    from . import evaluate

    files: list[tuple[str, Path]] = []
    for spec in args.files:
        path, _, label = spec.partition("=")
        path = Path(path).expanduser()
        if not path.is_file():
            raise QuantizationError(f"{path}: no such GGUF file")
        files.append((label or path.stem, path))
    b1 = None if args.b1 == "off" else 0 if args.b1 == "quick" else int(args.b1)
    rows, env = evaluate.evaluate(
        files,
        b1_limit=b1,
        b1_from=_pairs(args.b1_from, "--b1-from"),
        threads=args.threads,
        gpu_layers=args.gpu_layers,
        say=_say,
    )
    json_path = evaluate.write(rows, env, args.out)
    sys.stdout.write(evaluate.markdown(rows, env))
    _say(f"wrote {args.out} and {json_path}")
    return 0


def cmd_tiny(args: argparse.Namespace) -> int:
    from . import parity
    from .pipeline import ALL_TYPES, build_tiny, run_parity

    models = build_tiny(args.out_dir, tuple(args.kind), ALL_TYPES, say=_say)
    if not args.parity:
        return 0
    report = run_parity(models, say=_say)
    print(parity.markdown(report.rows))
    for kind, problems in report.tokenizer.items():
        print(f"\ntokenizer round trip ({kind}): {problems or 'identical'}")
    dialects = sorted(set(report.dialects.values()))
    print(f"FIM dialect infill-lsp detects in all {len(report.dialects)} files: {dialects}")
    if args.json:
        data = {
            "rows": [r.as_dict() for r in report.rows],
            "tokenizer": report.tokenizer,
            "dialects": report.dialects,
            "failures": report.failures(),
        }
        args.json.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    failures = report.failures()
    for failure in failures:
        _say(f"FAIL: {failure}")
    return 1 if failures else 0


def build_parser(prog: str = "python -m quantization") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="StarCoder-family HF checkpoint -> GGUF -> quantized GGUF, and the B5 report.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("convert", help="HF checkpoint folder -> GGUF (F32/F16)")
    p.add_argument("checkpoint", help="folder with config.json, weights and tokenizer.json")
    p.add_argument("output", help="GGUF file to write")
    p.add_argument("--outtype", choices=("f16", "f32"), default="f16")
    p.add_argument("--name", help="general.name (default: config _name_or_path or folder)")
    p.add_argument("--tokenizer-pre", help="override llama.cpp's pre-tokenizer name")
    p.add_argument("-q", "--quiet", action="store_true", help="no per-tensor progress")
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("quantize", help="GGUF -> quantized GGUF with llama.cpp's quantizer")
    p.add_argument("input", help="F32/F16 GGUF")
    p.add_argument("--type", "-t", action="append", required=True, help="e.g. Q4_K_M or Q8_0,Q4_0")
    p.add_argument("-o", "--output", help="output file (one --type)")
    p.add_argument("--out-dir", help="folder for STEM-TYPE.gguf (default: next to the input)")
    p.add_argument("--threads", type=int, default=0, help="0 = all cores")
    p.add_argument("--allow-requantize", action="store_true", help="accept a quantized input")
    p.set_defaults(func=cmd_quantize)

    p = sub.add_parser("evaluate", help="B5 table: size, load, RSS, tok/s, perplexity, B1 EM")
    p.add_argument("files", nargs="+", metavar="FILE[=LABEL]")
    p.add_argument("--b1", default="quick", help="quick (207 tasks), N (first N), or off")
    p.add_argument("--b1-from", action="append", default=[], metavar="FILE=SUMMARY.json")
    p.add_argument("--threads", type=int, default=0, help="0 = all cores")
    p.add_argument("--gpu-layers", type=int, default=0, help="n_gpu_layers (GPU builds)")
    p.add_argument("--out", type=Path, default=DEFAULT_REPORT, help="Markdown table (+ .json)")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("tiny", help="tiny random StarCoder-family models through the pipeline")
    p.add_argument("--out-dir", type=Path, default=Path("benchmarks/.cache/b5-tiny"))
    p.add_argument(
        "--kind",
        action="append",
        choices=("gptbigcode", "gptbigcode-mha", "starcoder2"),
        help="repeatable (default: gptbigcode and starcoder2)",
    )
    p.add_argument("--parity", action="store_true", help="compare with transformers")
    p.add_argument("--json", type=Path, help="write the parity results here")
    p.set_defaults(func=cmd_tiny)
    return parser


def main(argv: list[str] | None = None, prog: str = "python -m quantization") -> int:
    """Entry point; ``infill-lsp quantize ARGS`` calls ``main(ARGS, "infill-lsp quantize")``."""
    args = build_parser(prog).parse_args(argv)
    if getattr(args, "kind", "unset") is None:
        args.kind = ["gptbigcode", "starcoder2"]
    try:
        return args.func(args)
    except QuantizationError as exc:
        _say(f"error: {exc}")
        return 2
    except ImportError as exc:
        _say(f"error: {exc}; install the extra: pip install 'infill-lsp[quantization]'")
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
