"""All user settings in ONE typed, fully defaulted model (camelCase on the wire).

Filled from ``initializationOptions`` and ``workspace/didChangeConfiguration`` (either flat or
under an ``infill`` key, as VS Code sends sections). Invalid values never replace good ones: each
bad key is reported in a message the user can act on and its previous value is kept.

Each setting is declared once, on its field (``setting(...)``): its default, its one-line
description, its choices or bounds, whether a change reloads the model. The validation, the
reload decision, the README's settings table (``python -m lsp_server.settings`` prints it) and
the VS Code extension's package.json (checked by a test) all derive from the fields.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import sys
from dataclasses import dataclass, field, fields
from typing import Any, get_type_hints

from lsp_server.model.choice import is_selector

SECTION = "infill"
_SPEC = "infill.setting"  # the key of a field's Spec in its metadata


def _physical_cores() -> int:
    """Physical cores: llama.cpp gets slower, not faster, on hyper-threaded siblings."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            pairs = {
                (phys, core)
                for phys, core in re.findall(
                    r"physical id\s*:\s*(\d+).*?core id\s*:\s*(\d+)", fh.read(), re.S
                )
            }
        if pairs:
            return len(pairs)
    except OSError:
        pass
    return os.cpu_count() or 1


@dataclass(frozen=True)
class Spec:
    """What a setting needs beyond its type and default, kept on the field so it is said once."""

    doc: str  # the README's description (one line of markdown)
    choices: tuple[str, ...] = ()  # a string setting takes only these
    bounds: tuple[float, float] | None = None  # a number setting stays within these (inclusive)
    reload: bool = False  # a change needs the model reloaded (the rest apply to the next request)
    path: bool = False  # a leading "~" expands to the user's home directory
    empty_error: str = ""  # when set, "" (or blanks) is refused with this reason
    bool_choices: tuple[str, str] | None = None  # true / false accepted as these (older booleans)


def setting(
    default: Any,
    *,
    doc: str,
    choices: tuple[str, ...] = (),
    bounds: tuple[float, float] | None = None,
    reload: bool = False,
    path: bool = False,
    empty_error: str = "",
    bool_choices: tuple[str, str] | None = None,
) -> Any:
    """A ``Settings`` field carrying its ``Spec``: everything about one setting in one place."""
    spec = Spec(doc, choices, bounds, reload, path, empty_error, bool_choices)
    return field(default=default, metadata={_SPEC: spec})


@dataclass(frozen=True)
class Settings:
    """Server settings. Field names are snake_case; the wire uses camelCase (``prefixTokens``).

    The field order is the README table's order.
    """

    enable: bool = setting(True, doc="serve completions at all")
    # Which model: "auto" (the embedded 1.5B when installed and this machine serves it within
    # maxTimeMs, measured once and remembered; else the 0.5B), "0.5b", "1.5b", or a path to
    # any FIM-capable GGUF file (the same as modelPath).
    model: str = setting(
        "auto",
        doc="`auto`, `0.5b`, `1.5b` or a GGUF path (see [The model](#the-model))",
        reload=True,
        path=True,
        empty_error='expected "auto", "0.5b", "1.5b" or a path to a .gguf file',
    )
    # A path to a GGUF file; wins over ``model``. "" = not set.
    model_path: str = setting("", doc="a GGUF file; wins over `model`", reload=True, path=True)
    n_gpu_layers: int = setting(
        0,
        doc="layers offloaded to the GPU (0 = CPU, -1 = all)",
        bounds=(-1, 10_000),
        reload=True,
    )
    n_threads: int = setting(
        0, doc="llama.cpp threads; 0 = physical cores", bounds=(0, 1024), reload=True
    )
    context_size: int = setting(
        4096, doc="llama.cpp context (prompt + generation)", bounds=(512, 131_072), reload=True
    )
    # KV chunk reuse (engine.kv_reuse): after the prompt's common prefix with the cache, runs
    # of at least this many cached tokens are moved into place instead of evaluated again.
    kv_reuse_min_tokens: int = setting(
        64,
        doc="keep cached runs of at least this many prompt tokens by moving them (llama.cpp's "
        "`--cache-reuse`); 0 = only the common prefix",
        bounds=(0, 4096),
        reload=True,
    )
    # Speculative decoding (engine.speculative): drafts checked by the model in one decode,
    # greedy answers only. "lookup" drafts from n-grams already in the prompt (free; on a 2-core
    # CPU a verify batch costs ~2.4x a decode, so only such nearly-free drafts pay);
    # "draft" has the embedded 0.5B draft for a bigger model (pays where verification is cheap:
    # a GPU, many cores; see benchmarks/b_engine_rates).
    speculation: str = setting(
        "lookup",
        doc="speculative decoding: `lookup` (drafts from text already in the prompt), `draft` "
        "(the 0.5B drafts for a bigger model), `off`",
        choices=("off", "lookup", "draft"),
        reload=True,
    )
    # Prompt states parked per document (engine.resident): ~24 MB for a 2,000-token window of
    # the 0.5B (56 MB for the 1.5B); the default keeps about ten on an 8 GB laptop.
    resident_states_mb: int = setting(
        256,
        doc="memory for the prompt states of documents switched away from, restored on return "
        "instead of evaluated again; 0 = none",
        bounds=(0, 65_536),
        reload=True,
    )
    # After a jump the cache holds little of the prompt: a cold 2,000-token window costs ~19 s
    # on a 2-core laptop, so the first suggestions there come from a short window while the
    # full one is evaluated in idle time (completion.Completer, services.completions).
    jump_window_tokens: int = setting(
        160,
        doc="after a jump (a request that would evaluate more than `suffixTokens` + 3x this "
        "many prompt tokens) the server answers from a window of this many tokens; the full "
        "window follows in idle time; 0 = always the full window",
        bounds=(0, 4096),
    )
    prefix_tokens: int = setting(1500, doc="token budget before the cursor", bounds=(16, 100_000))
    suffix_tokens: int = setting(500, doc="token budget after the cursor", bounds=(0, 100_000))
    max_tokens: int = setting(128, doc="generation cap, multi-line answers", bounds=(1, 4096))
    max_tokens_single_line: int = setting(
        48, doc="generation cap, single-line answers", bounds=(1, 1024)
    )
    temperature: float = setting(0.0, doc="0 = greedy, deterministic", bounds=(0.0, 2.0))
    disabled_languages: tuple[str, ...] = setting((), doc="languageIds that get no completions")
    # Bigger documents get no suggestion (and no parse cost).
    max_file_bytes: int = setting(
        2_000_000, doc="larger documents get no completions", bounds=(1_000, 1_000_000_000)
    )
    # textDocument/completion answers with the infill: "auto" = only for clients that do not
    # support inline completion (VS Code asks for both on most keystrokes: answering both would
    # run the model twice and make the two requests cancel each other).
    completion_fallback: str = setting(
        "auto",
        doc="answer `textDocument/completion` with the infill: `auto` = only for clients without"
        " inline completion, `always`, `never`",
        choices=("auto", "always", "never"),
    )
    # Time cap on generation (after the prompt is evaluated): a slow machine gets a shorter
    # suggestion (whole lines only in multi-line mode) rather than a late one. 0 = no cap.
    max_time_ms: int = setting(
        1500, doc="time cap on generating one suggestion (0 = none)", bounds=(0, 600_000)
    )
    # After serving a suggestion, compute in idle time what follows its acceptance (cancelled
    # by the next keystroke), so accepting it shows the next suggestion at once.
    prefetch: bool = setting(
        True, doc="compute the suggestion that follows an accepted one in idle time"
    )
    warm_up: bool = setting(
        True,
        doc="where the cursor comes to rest (`infill/cursor`, VS Code's light-bulb request), "
        "evaluate the prompt in idle time; any request cancels it",
    )
    # Run code as evidence (Python, in a subprocess with a timeout and no network): the
    # function's docstring examples and the failing test the user names, to show the model what
    # goes wrong and to verify its candidates. Only inside the fix action, never on keystrokes.
    fix_run_examples: bool = setting(
        True,
        doc="fix action: run the function's docstring examples and the test you name"
        " (Python, subprocess, timeout, no network)",
    )
    # Interpreter for those examples and tests ("" = the one running the server).
    fix_python: str = setting(
        "", doc="interpreter for those examples and tests; empty = the one running the server"
    )
    # Hard timeout of one run of the named tests (the original, then each candidate).
    fix_test_timeout_ms: int = setting(
        30_000, doc="hard timeout of one run of the named tests", bounds=(1_000, 600_000)
    )
    # Candidates per fix (the first greedy, the others sampled), within a time budget.
    fix_candidates: int = setting(
        4,
        doc="chat answers per fix (the first greedy, the others sampled) when examples can"
        " verify them",
        bounds=(1, 16),
    )
    fix_budget_ms: int = setting(
        30_000, doc="time budget of one fix's candidate search", bounds=(1_000, 3_600_000)
    )
    # "Fix this function": cap on the tokens of one answer, and on its generation time.
    fix_max_tokens: int = setting(1024, doc="cap on one fix answer's tokens", bounds=(16, 16_384))
    fix_max_time_ms: int = setting(
        120_000, doc="cap on one fix answer's generation time", bounds=(1_000, 3_600_000)
    )
    # Cross-file context: a tree-sitter index of the workspace folders (kept fresh by a file
    # watcher) gives each completion definitions and similar code from other files, within
    # this many tokens, taken from the prefix budget (the prompt does not grow). "on", "off"
    # (no index either), or "auto": the index is kept, and its snippets go into prompts unless
    # the model is instruction-tuned (B4: both embedded Instruct models score lower with them,
    # see README). true / false are accepted for "on" / "off".
    repo_context: str = setting(
        "auto",
        doc="`on`: index the workspace and put cross-file context in prompts; `off`: neither;"
        " `auto`: index, and put context in prompts unless the model is instruction-tuned"
        " (both embedded models are: B4 measured them lower with it)",
        choices=("auto", "on", "off"),
        bool_choices=("on", "off"),  # the boolean setting it was before "auto"
    )
    repo_context_tokens: int = setting(
        512, doc="token budget of that context (taken from `prefixTokens`)", bounds=(0, 8_192)
    )
    # Extra ignore globs (gitignore syntax) on top of .gitignore / .infillignore.
    repo_ignore: tuple[str, ...] = setting((), doc="extra ignore globs (gitignore syntax)")
    # Prompt layout: "fim" = the model's file-level FIM prompt (its repository-level format only
    # when cross-file snippets come along); "repo" = always the repository-level format, naming
    # the file's path (Qwen2.5-Coder, StarCoder2; other models: same as "fim").
    prompt_format: str = setting(
        "fim",
        doc="`repo` = always the repository-level format with the file path"
        " (measured on B1: no gain)",
        choices=("fim", "repo"),
    )
    # Log every prompt sent to the model (window/logMessage): for debugging the context.
    log_prompts: bool = setting(False, doc="write every prompt to the log")
    # Acceptance statistics (services.acceptance, stats/): ids, counts, lengths, the language,
    # the model, the mode and latencies in a SQLite file of the user cache; never code text.
    stats: bool = setting(
        True,
        doc="count what becomes of each suggestion (accepted, typed through, rejected, "
        "characters kept) in `stats.sqlite3` in the user cache: no code text, nothing leaves "
        "the machine; `infill-lsp stats` shows it",
    )
    # Where the model runs: "local" (in-process llama.cpp) or a remote engine: "llama-server"
    # (llama.cpp's server), "openai" (any OpenAI-compatible /v1/completions: vLLM, TGI,
    # llama-cpp-python's server) or "ollama". Remote engines get the FIM prompt built here.
    engine: str = setting(
        "local",
        doc="`local`, `llama-server`, `openai` or `ollama`",
        choices=("local", "llama-server", "openai", "ollama"),
        reload=True,
    )
    # e.g. http://gpu-box:8080
    remote_url: str = setting("", doc="the remote engine's base URL", reload=True)
    # "" = the engine's own (openai: /v1/models; ollama: /api/tags): the only one, or among
    # several the first whose name tells the FIM dialect (engine.remote.discover).
    remote_model: str = setting(
        "",
        doc="the model to use (openai, ollama); empty = the one the engine lists (of several, "
        "the first whose name tells the FIM dialect)",
        reload=True,
    )
    # The NAME of the environment variable holding the API key (the key itself is never a
    # setting, so it never lands in a settings file).
    remote_api_key_env: str = setting(
        "INFILL_LSP_API_KEY",
        doc="NAME of the environment variable with the API key",
        reload=True,
    )
    remote_fim_dialect: str = setting(
        "auto",
        doc="`auto` (llama-server: its vocabulary; ollama: the model's template; else the "
        "model's name), `qwen`, `starcoder`, `santacoder`, `codellama`, `deepseek`, `codegemma`",
        choices=("auto", "qwen", "starcoder", "santacoder", "codellama", "deepseek", "codegemma"),
        reload=True,
    )
    # How prompts are measured for a remote model: a local GGUF of the same model (loaded
    # vocab-only), "" = the engine's tokenize endpoint (llama-server) else an estimate.
    remote_vocab: str = setting(
        "",
        doc="a local GGUF of the same model, for exact token budgets",
        reload=True,
        path=True,
    )
    remote_timeout_ms: int = setting(
        30_000,
        doc="longest wait for a remote engine's answer; a request with a time budget asks the "
        "engine's /health after max(5 s, 2x maxTimeMs) of silence and ends at once when that "
        "is not answered in 2 s (a hung engine: counted as down)",
        bounds=(100, 600_000),
        reload=True,
    )
    remote_max_concurrent: int = setting(
        4, doc="parallel requests to the engine", bounds=(1, 64), reload=True
    )
    # llama-server keeps each slot's prompt in its KV cache: an editor that keeps to one slot
    # finds its own prompt there. -2 (default) leaves the choice to the server, which picks the
    # slot whose cached prompt is most similar: with 4 users on 4 slots it measured p95 2.0 s
    # against 4.8 s for slots pinned at random (b_team_load; random pins collide); -1 picks one
    # at random at connect; N pins slot N.
    remote_slot: int = setting(
        -2,
        doc="llama-server slot to keep to: -2 = the server chooses (by prompt similarity), "
        "-1 = one picked at random at connect, N = slot N",
        bounds=(-2, 1024),
        reload=True,
    )
    # Replace secrets and personal data by typed placeholders before a prompt leaves the machine.
    remote_redact: bool = setting(
        True, doc="redact secrets and PII before a prompt leaves the machine", reload=True
    )

    def explicit_model_path(self) -> str:
        """The GGUF path the user named (``modelPath``, else ``model`` when it is not one of the
        embedded selectors), or ""."""
        if self.model_path.strip():
            return self.model_path.strip()
        return "" if is_selector(self.model) else self.model.strip()

    def indexes_workspace(self) -> bool:
        return self.repo_context != "off"

    def repo_context_for(self, model_name: str) -> bool:
        """Whether prompts for ``model_name`` get cross-file snippets."""
        if self.repo_context == "auto":
            return not instruction_tuned(model_name)
        return self.repo_context == "on"

    def effective_threads(self) -> int:
        return self.n_threads if self.n_threads > 0 else _physical_cores()

    def example_python(self) -> str:
        return self.fix_python or sys.executable


def instruction_tuned(model_name: str) -> bool:
    """A chat/instruct fine-tune, by its name (``qwen2.5-coder-0.5b-instruct-q4_k_m.gguf``)."""
    name = os.path.basename(model_name).lower()
    return any(word in name for word in ("instruct", "-chat", "_chat", ".chat", "-it-", "-it."))


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


# Derived once from the fields: nothing below names a setting.
SPECS: dict[str, Spec] = {f.name: f.metadata[_SPEC] for f in fields(Settings)}
CHOICES: dict[str, tuple[str, ...]] = {n: s.choices for n, s in SPECS.items() if s.choices}
BOUNDS: dict[str, tuple[float, float]] = {
    n: s.bounds for n, s in SPECS.items() if s.bounds is not None
}
RELOAD_KEYS: tuple[str, ...] = tuple(n for n, s in SPECS.items() if s.reload)
WIRE_NAMES: dict[str, str] = {camel(f.name): f.name for f in fields(Settings)}
_HINTS: dict[str, Any] = get_type_hints(Settings)
# The wire type a field accepts; every field is one of these (a tuple means tuple[str, ...]).
_KINDS: dict[str, type] = {
    name: hint if hint in (bool, int, float, str) else tuple for name, hint in _HINTS.items()
}


def needs_reload(old: Settings, new: Settings) -> bool:
    """Whether going from ``old`` to ``new`` needs the model reloaded; the other settings apply
    to the next request, so changing them never costs a load."""
    return any(getattr(old, key) != getattr(new, key) for key in RELOAD_KEYS)


def _coerce_str(spec: Spec, value: Any) -> str:
    """A string setting's wire value, checked against its spec."""
    if value is None:
        return ""
    if spec.bool_choices is not None and isinstance(value, bool):
        return spec.bool_choices[0] if value else spec.bool_choices[1]
    if not isinstance(value, str):
        raise ValueError("expected a string")
    if spec.choices and value not in spec.choices:
        raise ValueError("expected one of " + ", ".join(spec.choices))
    if spec.empty_error and not value.strip():
        raise ValueError(spec.empty_error)
    return os.path.expanduser(value) if spec.path and value else value


def _coerce(kind: type, spec: Spec, value: Any) -> Any:
    """Convert one wire value to the field's type, or raise ValueError with a readable reason."""
    if kind is bool:
        if isinstance(value, bool):
            return value
        raise ValueError("expected true or false")
    if kind is str:
        return _coerce_str(spec, value)
    if kind is tuple:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError("expected a list of strings")
        return tuple(value)
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
            raise ValueError("expected a whole number")
        value = int(value)
    else:  # float
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError("expected a number")
        value = float(value)
    lo, hi = spec.bounds or (float("-inf"), float("inf"))
    if not lo <= value <= hi:
        raise ValueError(f"must be between {lo:g} and {hi:g}")
    return value


def merge(current: Settings, raw: Any) -> tuple[Settings, list[str]]:
    """Apply wire settings onto ``current``; return the new settings and one error per bad key.

    Unknown keys are reported too (a typo like ``prefixToken`` would otherwise silently do
    nothing), except when they are clearly another extension's section.
    """
    if raw is None:
        return current, []
    if not isinstance(raw, dict):
        return current, [f"settings must be an object, got {type(raw).__name__}"]
    if isinstance(raw.get(SECTION), dict):
        raw = raw[SECTION]
    changes: dict[str, Any] = {}
    errors: list[str] = []
    for key, value in raw.items():
        name = WIRE_NAMES.get(key) or (key if key in _KINDS else None)
        if name is None:
            errors.append(f"unknown setting '{key}' (ignored)")
            continue
        try:
            changes[name] = _coerce(_KINDS[name], SPECS[name], value)
        except ValueError as exc:
            errors.append(f"setting '{key}': {exc}; keeping {getattr(current, name)!r}")
    return dataclasses.replace(current, **changes), errors


def to_wire(settings: Settings) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(Settings):
        value = getattr(settings, f.name)
        out[camel(f.name)] = list(value) if isinstance(value, tuple) else value
    return out


def markdown_table() -> str:
    """The README's settings table (wire name, JSON default, doc), rendered from the fields: a
    unit test keeps the README equal to it, so a new setting or a changed default cannot be
    left out. Regenerate with ``python -m lsp_server.settings``."""
    defaults = to_wire(Settings())
    rows = ["| setting | default | meaning |", "|---|---|---|"]
    for name, spec in SPECS.items():
        key = camel(name)
        rows.append(f"| `{key}` | `{json.dumps(defaults[key])}` | {spec.doc} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(markdown_table(), end="")
