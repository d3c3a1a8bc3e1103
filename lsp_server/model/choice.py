"""The ``model`` setting: ``auto``, ``0.5b``, ``1.5b`` or a path to a GGUF file.

``auto`` takes the better Qwen2.5-Coder-1.5B when it is installed (its chunk packages, or an
already joined and verified file in the cache) AND this machine serves it within the latency
budget; otherwise the 0.5B default. "Within the budget" is measured once, on the first load: a
warm keystroke's work (``PROBE_NEW_TOKENS`` new prompt tokens after a cached prompt, then
``PROBE_GENERATED`` generated tokens), projected from the measured per-token rates, must fit in
``maxTimeMs``. The verdict is remembered in the user cache per machine (CPU, threads, GPU
layers, llama.cpp version, model checksum), so later starts load the right model directly.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from lsp_server.engine.base import CancelToken, GenerationRequest
from lsp_server.model.default import (
    EMBEDDED_MODELS,
    EmbeddedModel,
    cache_dir,
    cached_path,
    is_verified,
    locate_chunks,
)
from lsp_server.model.errors import ModelError

log = logging.getLogger(__name__)

AUTO = "auto"
SELECTORS = (AUTO, *EMBEDDED_MODELS)
PROBE_NEW_TOKENS = 32  # what a keystroke adds to a cached prompt (a line, typically)
PROBE_GENERATED = 16  # a one-line suggestion
DEFAULT_BUDGET_MS = 1500.0  # when maxTimeMs is 0 (no cap)
VERDICTS_FILE = "auto-model.json"

# Real code to measure on (a prompt the model sees every day), long enough for a warm-up
# prompt plus the new tokens of the timed request.
_PROBE_CODE = '''import json
from pathlib import Path


class Inventory:
    """Items with a quantity and a unit price, loaded from and saved to JSON."""

    def __init__(self, path):
        self.path = Path(path)
        self.items = {}

    def load(self):
        if self.path.exists():
            self.items = json.loads(self.path.read_text(encoding="utf-8"))
        return self

    def add(self, name, quantity, price):
        entry = self.items.setdefault(name, {"quantity": 0, "price": price})
        entry["quantity"] += quantity
        entry["price"] = price

    def remove(self, name, quantity):
        entry = self.items.get(name)
        if entry is None or entry["quantity"] < quantity:
            raise ValueError(f"not enough {name} in stock")
        entry["quantity"] -= quantity
        if entry["quantity"] == 0:
            del self.items[name]

    def total_value(self):
'''


_PROBE_SUFFIX = """
    def save(self):
        self.path.write_text(json.dumps(self.items), encoding="utf-8")
"""


@dataclass(frozen=True)
class Verdict:
    """Whether the 1.5B serves a keystroke within the budget on this machine."""

    probe_ms: float
    budget_ms: float
    prompt_tps: float
    generate_tps: float

    @property
    def ok(self) -> bool:
        return self.probe_ms <= self.budget_ms


@dataclass(frozen=True)
class Choice:
    """What ``model`` resolved to, and why (shown in ``infill/status`` and the log)."""

    setting: str
    picked: str  # "0.5b" | "1.5b" | "path"
    reason: str
    verdict: Verdict | None = None

    def describe(self) -> dict[str, object]:
        out: dict[str, object] = {"setting": self.setting, "picked": self.picked}
        out["reason"] = self.reason
        if self.verdict is not None:
            out["probeMs"] = round(self.verdict.probe_ms, 1)
            out["budgetMs"] = self.verdict.budget_ms
        return out


def is_selector(value: str) -> bool:
    return value.strip().lower() in SELECTORS


def installed(spec: EmbeddedModel) -> bool:
    """The model can be loaded without installing anything: joined and verified in the cache,
    or all its chunk packages present."""
    if is_verified(spec, cached_path(spec)):
        return True
    try:
        locate_chunks(spec)
    except ModelError:
        return False
    return True


def machine_key(spec: EmbeddedModel, threads: int, gpu_layers: int) -> str:
    try:
        from importlib.metadata import version

        llama = version("llama_cpp_python")
    except Exception:
        llama = "?"
    return "|".join(
        (_cpu_name(), str(os.cpu_count()), f"t{threads}", f"gpu{gpu_layers}", llama, spec.sha256)
    )


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _verdicts_path(cache: Path | None) -> Path:
    return (cache or cache_dir()) / VERDICTS_FILE


def remembered(key: str, budget_ms: float, cache: Path | None = None) -> Verdict | None:
    """The verdict measured before for ``key``, re-judged against today's budget."""
    try:
        data = json.loads(_verdicts_path(cache).read_text(encoding="utf-8"))
        row = data[key]
        return Verdict(
            float(row["probe_ms"]), budget_ms, float(row["prompt_tps"]), float(row["generate_tps"])
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def remember(key: str, verdict: Verdict, cache: Path | None = None) -> None:
    path = _verdicts_path(cache)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            data = {}
    except (OSError, ValueError):
        data = {}
    data[key] = asdict(verdict)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:  # a read-only cache costs a probe next start, nothing else
        log.warning("could not remember the auto model verdict in %s: %s", path, exc)


def probe(engine, budget_ms: float) -> Verdict:
    """Time a warm keystroke on ``engine``: a cached prompt, then new tokens and a short answer.

    The per-token rates come from the timed request; the verdict projects them onto exactly
    ``PROBE_NEW_TOKENS`` + ``PROBE_GENERATED`` tokens, so an early stop token cannot flatter it.
    """
    dialect = engine.dialect
    tokens = engine.tokenize(_PROBE_CODE)
    split = max(8, len(tokens) - PROBE_NEW_TOKENS)
    suffix = engine.tokenize(_PROBE_SUFFIX)

    def ask(prefix: list[int], n: int):
        request = GenerationRequest(prompt=dialect.build(prefix, suffix), max_tokens=n)
        return engine.generate(request, CancelToken())

    # Warm-up: the prompt without its last line's tokens, into the KV cache (not timed).
    ask(tokens[:split], 1)
    started = time.perf_counter()
    timed = ask(tokens, PROBE_GENERATED)
    wall_ms = (time.perf_counter() - started) * 1000
    prompt_tps = timed.evaluated_tokens / max(timed.prompt_ms / 1000, 1e-6)
    generated = max(timed.generated_tokens, 1)
    generate_tps = generated / max(timed.generate_ms / 1000, 1e-6)
    projected = 1000 * (PROBE_NEW_TOKENS / prompt_tps + PROBE_GENERATED / generate_tps)
    log.info(
        "auto model probe: %.0f ms projected (%.0f ms measured, %d new prompt tokens at %.0f/s, "
        "%d generated at %.1f/s), budget %.0f ms",
        projected,
        wall_ms,
        timed.evaluated_tokens,
        prompt_tps,
        timed.generated_tokens,
        generate_tps,
        budget_ms,
    )
    return Verdict(round(projected, 1), budget_ms, round(prompt_tps, 1), round(generate_tps, 2))
