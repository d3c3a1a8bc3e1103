"""All user settings in ONE typed, fully defaulted model (camelCase on the wire).

Filled from ``initializationOptions`` and ``workspace/didChangeConfiguration`` (either flat or
under an ``infill`` key, as VS Code sends sections). Invalid values never replace good ones: each
bad key is reported in a message the user can act on and its previous value is kept.
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
from dataclasses import dataclass, field, fields
from typing import Any, get_type_hints

from lsp_server.model.choice import is_selector

SECTION = "infill"


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
class Settings:
    """Server settings. Field names are snake_case; the wire uses camelCase (``prefixTokens``)."""

    enable: bool = True
    # Which model: "auto" (the embedded 1.5B when installed and this machine serves it within
    # maxTimeMs, measured once and remembered; else the 0.5B), "0.5b", "1.5b", or a path to
    # any FIM-capable GGUF file (the same as modelPath).
    model: str = "auto"
    # A path to a GGUF file; wins over ``model``. "" = not set.
    model_path: str = ""
    n_gpu_layers: int = 0  # 0 = CPU only; -1 = offload every layer
    n_threads: int = 0  # 0 = physical cores
    context_size: int = 4096  # llama.cpp context (prompt + generation)
    prefix_tokens: int = 1500  # token budget of the text before the cursor
    suffix_tokens: int = 500  # token budget of the text after the cursor
    max_tokens: int = 128  # cap on generated tokens for a multi-line answer
    max_tokens_single_line: int = 48  # cap on generated tokens for a single-line answer
    # Time cap on generation (after the prompt is evaluated): a slow machine gets a shorter
    # suggestion (whole lines only in multi-line mode) rather than a late one. 0 = no cap.
    max_time_ms: int = 1500
    # After serving a suggestion, compute in idle time what follows its acceptance (cancelled
    # by the next keystroke), so accepting it shows the next suggestion at once.
    prefetch: bool = True
    temperature: float = 0.0  # 0 = greedy (deterministic suggestions)
    # "Fix this function": cap on the tokens of one answer, and on its generation time.
    fix_max_tokens: int = 1024
    fix_max_time_ms: int = 120_000
    # Run code as evidence (Python, in a subprocess with a timeout and no network): the
    # function's docstring examples and the failing test the user names, to show the model what
    # goes wrong and to verify its candidates. Only inside the fix action, never on keystrokes.
    fix_run_examples: bool = True
    # Interpreter for those examples and tests ("" = the one running the server).
    fix_python: str = ""
    # Hard timeout of one run of the named tests (the original, then each candidate).
    fix_test_timeout_ms: int = 30_000
    # Candidates per fix (the first greedy, the others sampled), within a time budget.
    fix_candidates: int = 4
    fix_budget_ms: int = 30_000
    # Where the model runs: "local" (in-process llama.cpp) or a remote engine: "llama-server"
    # (llama.cpp's server), "openai" (any OpenAI-compatible /v1/completions: vLLM, TGI,
    # llama-cpp-python's server) or "ollama". Remote engines get the FIM prompt built here.
    engine: str = "local"
    remote_url: str = ""  # e.g. http://gpu-box:8080
    remote_model: str = ""  # the model name the engine serves (openai, ollama)
    # The NAME of the environment variable holding the API key (the key itself is never a
    # setting, so it never lands in a settings file).
    remote_api_key_env: str = "INFILL_LSP_API_KEY"
    remote_fim_dialect: str = "auto"  # auto = from the model's name; qwen, starcoder, ...
    # How prompts are measured for a remote model: a local GGUF of the same model (loaded
    # vocab-only), "" = the engine's tokenize endpoint (llama-server) else an estimate.
    remote_vocab: str = ""
    remote_timeout_ms: int = 30_000
    remote_max_concurrent: int = 4
    # Replace secrets and personal data by typed placeholders before a prompt leaves the machine.
    remote_redact: bool = True
    # Cross-file context: a tree-sitter index of the workspace folders (kept fresh by a file
    # watcher) gives each completion definitions and similar code from other files, within
    # this many tokens, taken from the prefix budget (the prompt does not grow). "on", "off"
    # (no index either), or "auto": the index is kept, and its snippets go into prompts unless
    # the model is instruction-tuned (B4: both embedded Instruct models score lower with them,
    # see README). true / false are accepted for "on" / "off".
    repo_context: str = "auto"
    repo_context_tokens: int = 512
    # Extra ignore globs (gitignore syntax) on top of .gitignore / .infillignore.
    repo_ignore: tuple[str, ...] = field(default_factory=tuple)
    # Prompt layout: "fim" = the model's file-level FIM prompt (its repository-level format only
    # when cross-file snippets come along); "repo" = always the repository-level format, naming
    # the file's path (Qwen2.5-Coder, StarCoder2; other models: same as "fim").
    prompt_format: str = "fim"
    # Log every prompt sent to the model (window/logMessage): for debugging the context.
    log_prompts: bool = False
    disabled_languages: tuple[str, ...] = field(default_factory=tuple)
    max_file_bytes: int = 2_000_000  # bigger documents get no suggestion (and no parse cost)
    # textDocument/completion answers with the infill: "auto" = only for clients that do not
    # support inline completion (VS Code asks for both on most keystrokes: answering both would
    # run the model twice and make the two requests cancel each other).
    completion_fallback: str = "auto"

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


_CHOICES: dict[str, tuple[str, ...]] = {
    "repo_context": ("auto", "on", "off"),
    "completion_fallback": ("auto", "always", "never"),
    "prompt_format": ("fim", "repo"),
    "engine": ("local", "llama-server", "openai", "ollama"),
    "remote_fim_dialect": (
        "auto",
        "qwen",
        "starcoder",
        "santacoder",
        "codellama",
        "deepseek",
        "codegemma",
    ),
}

_BOUNDS: dict[str, tuple[float, float]] = {
    "n_gpu_layers": (-1, 10_000),
    "n_threads": (0, 1024),
    "context_size": (512, 131_072),
    "prefix_tokens": (16, 100_000),
    "suffix_tokens": (0, 100_000),
    "max_tokens": (1, 4096),
    "max_tokens_single_line": (1, 1024),
    "max_time_ms": (0, 600_000),
    "temperature": (0.0, 2.0),
    "fix_max_tokens": (16, 16_384),
    "fix_max_time_ms": (1_000, 3_600_000),
    "fix_candidates": (1, 16),
    "fix_budget_ms": (1_000, 3_600_000),
    "fix_test_timeout_ms": (1_000, 600_000),
    "repo_context_tokens": (0, 8_192),
    "remote_timeout_ms": (100, 600_000),
    "remote_max_concurrent": (1, 64),
    "max_file_bytes": (1_000, 1_000_000_000),
}


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


WIRE_NAMES: dict[str, str] = {camel(f.name): f.name for f in fields(Settings)}


def _coerce(name: str, kind: Any, value: Any) -> Any:
    """Convert one wire value to the field's type, or raise ValueError with a readable reason."""
    if kind is bool:
        if isinstance(value, bool):
            return value
        raise ValueError("expected true or false")
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
            raise ValueError("expected a whole number")
        value = int(value)
    elif kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError("expected a number")
        value = float(value)
    elif kind is str:
        if value is None:
            return ""
        if name == "repo_context" and isinstance(value, bool):
            return "on" if value else "off"  # the boolean setting it was before "auto"
        if not isinstance(value, str):
            raise ValueError("expected a string")
        if name in _CHOICES and value not in _CHOICES[name]:
            raise ValueError("expected one of " + ", ".join(_CHOICES[name]))
        if name == "model" and not value.strip():
            raise ValueError('expected "auto", "0.5b", "1.5b" or a path to a .gguf file')
        expand = name in ("model", "model_path", "remote_vocab") and value
        return os.path.expanduser(value) if expand else value
    else:  # tuple[str, ...]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError("expected a list of strings")
        return tuple(value)
    lo, hi = _BOUNDS.get(name, (float("-inf"), float("inf")))
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
    hints = get_type_hints(Settings)
    changes: dict[str, Any] = {}
    errors: list[str] = []
    for key, value in raw.items():
        name = WIRE_NAMES.get(key) or (key if key in hints else None)
        if name is None:
            errors.append(f"unknown setting '{key}' (ignored)")
            continue
        kind = hints[name]
        base = (
            bool
            if kind is bool
            else int
            if kind is int
            else float
            if kind is float
            else (str if kind is str else tuple)
        )
        try:
            changes[name] = _coerce(name, base, value)
        except ValueError as exc:
            errors.append(f"setting '{key}': {exc}; keeping {getattr(current, name)!r}")
    return dataclasses.replace(current, **changes), errors


def to_wire(settings: Settings) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(Settings):
        value = getattr(settings, f.name)
        out[camel(f.name)] = list(value) if isinstance(value, tuple) else value
    return out
