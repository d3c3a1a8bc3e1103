"""The ``model`` setting: ``auto``, ``0.5b``, ``1.5b`` or a path to a GGUF file.

``auto`` takes the better Qwen2.5-Coder-1.5B when it is installed (its chunk packages, or an
already joined and verified file in the cache) AND this machine serves it within the latency
budget; otherwise the 0.5B default. "Within the budget" is measured (``probe``): a warm
keystroke's work (``PROBE_NEW_TOKENS`` new prompt tokens after a cached prompt, then
``PROBE_GENERATED`` generated tokens), projected from the measured per-token rates, must fit in
``maxTimeMs``. The server serves the 0.5B at once and measures the 1.5B in idle time
(``services.model``); ``infill-lsp model --measure`` measures on demand.

A measurement is trusted only when other processes left the machine mostly idle while it ran
(``others_share``, from /proc/stat) and its rates are plausible (``distrust``); only a trusted
verdict is remembered in the user cache, per machine (CPU, threads, GPU layers, llama.cpp
version, model checksum), so later starts load the right model directly.

Everything here but ``probe``, ``sample_cpu`` and the verdicts file is pure: the wording of a
choice, the trust rules, the retry schedule.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import platform
import time
from dataclasses import dataclass
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
# The first suggestion after the cursor jumped: the engine answers from a short window around
# the cursor (``jumpWindowTokens``), ~140 new prompt tokens measured per jump by B6 with a plain
# client, then the line. It must come within a second (the navigation target's p95).
JUMP_NEW_TOKENS = 140
JUMP_BUDGET_MS = 1000.0
DEFAULT_BUDGET_MS = 1500.0  # when maxTimeMs is 0 (no cap)
VERDICTS_FILE = "auto-model.json"

# A measurement is not trusted when other processes used more than this share of the machine
# (all CPUs) while it ran: the 1.5B would be judged on the CPU time left over, and one busy
# probe would otherwise pin the 0.5B for good.
BUSY_LIMIT = 0.25
# Nor when generation ran below this many tokens/s. Generating a token reads all of the
# 1.5B's ~1 GB of Q4_K_M weights once, so this is 2 GB/s of effective memory bandwidth; any
# machine able to run the model has more (a Raspberry Pi 4 ~4 GB/s, a laptop's DDR4 20+ GB/s;
# benchmarks/b_engine_rates measured ~35 tokens/s for the 1.5B on 2 threads here). A rate this
# low says the probe was starved (swapping, throttling, a hypervisor's steal) rather than what
# the machine does, and the budget would be missed by seconds either way.
MIN_GENERATE_TPS = 2.0
# Nor when the timed request evaluated fewer new prompt tokens than this: the prompt rate is
# then timed on too little work (the warm-up did not leave the cache as expected).
MIN_EVALUATED = PROBE_NEW_TOKENS // 2
# Measurements per session whose result was not trusted, before the server gives up until the
# next start (or ``infill-lsp model --measure``); the wait before each retry grows 4x.
MAX_UNTRUSTED = 4
RETRY_AFTER_S = 60.0

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
    """Whether the 1.5B serves a keystroke within the budget on this machine, and whether the
    measurement can be trusted (``distrust`` says why not)."""

    probe_ms: float
    budget_ms: float
    prompt_tps: float
    generate_tps: float
    # The share of the machine (0..1, all CPUs) other processes used during the probe; None
    # where it cannot be read (no /proc/stat).
    busy: float | None = None
    distrust: str = ""  # "" = trusted

    @property
    def jump_ms(self) -> float:
        """The first suggestion after a jump, projected from the same rates."""
        return 1000 * (
            JUMP_NEW_TOKENS / max(self.prompt_tps, 1e-6)
            + PROBE_GENERATED / max(self.generate_tps, 1e-6)
        )

    @property
    def ok(self) -> bool:
        """Both fit: a keystroke within ``maxTimeMs`` and a jump within ``JUMP_BUDGET_MS``."""
        return self.probe_ms <= self.budget_ms and self.jump_ms <= JUMP_BUDGET_MS

    @property
    def trusted(self) -> bool:
        return not self.distrust

    def describe(self) -> dict[str, object]:
        out: dict[str, object] = {
            "probeMs": round(self.probe_ms, 1),
            "budgetMs": self.budget_ms,
            "jumpMs": round(self.jump_ms, 1),
            "jumpBudgetMs": JUMP_BUDGET_MS,
            "promptTps": self.prompt_tps,
            "generateTps": self.generate_tps,
            "othersCpu": None if self.busy is None else round(self.busy, 2),
            "trusted": self.trusted,
        }
        if self.distrust:
            out["distrust"] = self.distrust
        return out

    def summary(self) -> str:
        """The numbers in one line, for the log and ``infill-lsp model``."""
        load = "machine load unknown" if self.busy is None else f"others used {self.busy:.0%} CPU"
        return (
            f"~{self.probe_ms:.0f} ms a keystroke (budget {self.budget_ms:.0f} ms), "
            f"~{self.jump_ms:.0f} ms after a jump (budget {JUMP_BUDGET_MS:.0f} ms), prompt "
            f"{self.prompt_tps:.0f} tokens/s, generation {self.generate_tps:.1f} tokens/s, {load}"
        )


@dataclass(frozen=True)
class Choice:
    """What ``model`` resolved to, and why (shown in ``infill/status`` and the log)."""

    setting: str
    picked: str  # "0.5b" | "1.5b" | "path"
    reason: str
    verdict: Verdict | None = None
    measuring: bool = False  # auto: the 1.5B is still to be measured (pending or running)

    def describe(self) -> dict[str, object]:
        out: dict[str, object] = {"setting": self.setting, "picked": self.picked}
        out["reason"] = self.reason
        out["measuring"] = self.measuring
        if self.verdict is not None:
            out.update(self.verdict.describe())
        return out


# What ``auto`` picks, worded once (the loader, the server and the CLI all say it the same way).


def not_installed(big: EmbeddedModel) -> Choice:
    return Choice(AUTO, "0.5b", f"{big.title} not installed ({big.install_command})")


def measuring(note: str) -> Choice:
    """No trusted verdict yet (``note``: why): the 0.5B serves while the 1.5B is measured."""
    return Choice(
        AUTO,
        "0.5b",
        f"serving the 0.5B while the 1.5B is measured in idle time ({note})",
        measuring=True,
    )


def judged(verdict: Verdict, how: str) -> Choice:
    """A trusted verdict's pick; ``how``: "measured now" or "measured before"."""
    if verdict.ok:
        return Choice(
            AUTO,
            "1.5b",
            f"a keystroke takes ~{verdict.probe_ms:.0f} ms on this machine ({how}), within "
            f"{verdict.budget_ms:.0f} ms (maxTimeMs), and the first suggestion after a jump "
            f"~{verdict.jump_ms:.0f} ms, within {JUMP_BUDGET_MS:.0f} ms",
            verdict,
        )
    if verdict.probe_ms > verdict.budget_ms:
        over = (
            f"~{verdict.probe_ms:.0f} ms a keystroke here ({how}), over "
            f"{verdict.budget_ms:.0f} ms (maxTimeMs)"
        )
    else:
        over = (
            f"~{verdict.jump_ms:.0f} ms for the first suggestion after a jump here ({how}), "
            f"over {JUMP_BUDGET_MS:.0f} ms (a keystroke: ~{verdict.probe_ms:.0f} ms)"
        )
    return Choice(AUTO, "0.5b", f"the 1.5B would take {over}", verdict)


def untrusted(verdict: Verdict, retry_in_s: float | None) -> Choice:
    """A measurement not trusted: the 0.5B serves; measured again later, or not this session."""
    if retry_in_s is not None:
        then = f"measuring again in {retry_in_s:.0f} s"
    else:
        then = (
            f"gave up after {MAX_UNTRUSTED} tries this session; run `infill-lsp model --measure` "
            "when the machine is idle"
        )
    return Choice(
        AUTO,
        "0.5b",
        f"serving the 0.5B: the 1.5B's measurement is not trusted ({verdict.distrust}); {then}",
        verdict,
        measuring=retry_in_s is not None,
    )


def failed(what: str) -> Choice:
    """Loading or measuring the 1.5B failed: the 0.5B serves on (not retried this session)."""
    return Choice(AUTO, "0.5b", f"serving the 0.5B: the 1.5B could not be measured ({what})")


def retry_delay(untrusted_so_far: int) -> float | None:
    """Seconds before measuring again after the ``untrusted_so_far``-th untrusted measurement
    of the session; None: give up until the next start."""
    if untrusted_so_far >= MAX_UNTRUSTED:
        return None
    return RETRY_AFTER_S * 4 ** max(untrusted_so_far - 1, 0)


def distrust(prompt_tps: float, generate_tps: float, evaluated: int, busy: float | None) -> str:
    """Why a probe's numbers cannot be trusted ("" = they can)."""
    if busy is not None and busy > BUSY_LIMIT:
        return f"other processes used {busy:.0%} of the CPU during it, over {BUSY_LIMIT:.0%}"
    if evaluated < MIN_EVALUATED:
        return f"only {evaluated} new prompt tokens were timed, under {MIN_EVALUATED}"
    if generate_tps < MIN_GENERATE_TPS:
        return (
            f"generation at {generate_tps:.2f} tokens/s is implausibly slow "
            f"(under {MIN_GENERATE_TPS:.0f}): the probe was starved"
        )
    if prompt_tps < generate_tps:
        return (
            f"prompt tokens ran slower than generated ones ({prompt_tps:.1f} < "
            f"{generate_tps:.1f} tokens/s), which batched evaluation never is"
        )
    return ""


# How busy the machine was: system-wide busy CPU time (/proc/stat) minus our own (os.times).


@dataclass(frozen=True)
class CpuSample:
    wall_s: float  # time.monotonic()
    busy_ticks: int | None  # all CPUs' busy time in clock ticks; None: no /proc/stat here
    own_s: float  # this process's CPU seconds, every thread (user + system)


def busy_ticks(proc_stat: str) -> int | None:
    """Busy clock ticks of all CPUs from /proc/stat's aggregate ``cpu`` line: user, nice,
    system, irq, softirq and steal (a hypervisor giving our CPU to another guest slows the
    probe as surely as a local process); idle and iowait are not busy."""
    for line in proc_stat.splitlines():
        if line.startswith("cpu "):
            try:
                fields = [int(x) for x in line.split()[1:]]
            except ValueError:
                return None
            user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
            return user + nice + system + irq + softirq + steal
    return None


def others_share(
    before: CpuSample, after: CpuSample, cpus: int, ticks_per_s: float
) -> float | None:
    """The share of the whole machine (0..1) that processes other than this one kept busy
    between two samples; None when it cannot be told."""
    wall = after.wall_s - before.wall_s
    if before.busy_ticks is None or after.busy_ticks is None or wall <= 0 or cpus <= 0:
        return None
    busy_s = (after.busy_ticks - before.busy_ticks) / ticks_per_s
    own_s = after.own_s - before.own_s
    return min(1.0, max(0.0, (busy_s - own_s) / (wall * cpus)))


def sample_cpu() -> CpuSample:
    try:
        with open("/proc/stat", encoding="ascii", errors="replace") as fh:
            ticks = busy_ticks(fh.read())
    except OSError:
        ticks = None
    own = os.times()
    return CpuSample(time.monotonic(), ticks, own.user + own.system)


def _ticks_per_s() -> float:
    try:
        return float(os.sysconf("SC_CLK_TCK"))
    except (AttributeError, ValueError, OSError):
        return 100.0


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


def machine_key(
    spec: EmbeddedModel, threads: int, gpu_layers: int, speculation: str = "off"
) -> str:
    """What a verdict holds for: CPU, CPU count, threads, GPU layers, the llama.cpp build
    (llama-cpp-python's version, which pins it), the model's checksum, and the speculative
    decoding it was measured with (it changes the generation rate)."""
    return "|".join(
        (
            _cpu_name(),
            str(os.cpu_count()),
            f"t{threads}",
            f"gpu{gpu_layers}",
            _llama_version(),
            spec.sha256,
            *([f"spec-{speculation}"] if speculation != "off" else []),
        )
    )


_BUILD = 4  # the llama.cpp build's place in a machine key


def _llama_version() -> str:
    try:
        from importlib.metadata import version

        return version("llama_cpp_python")
    except Exception:
        return "?"


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


def recall(key: str, budget_ms: float, cache: Path | None = None) -> tuple[Verdict | None, str]:
    """The trusted verdict measured before for ``key``, re-judged against today's budget; or
    None and why there is none (never measured, another llama.cpp build, a corrupt file).
    Never raises: whatever is wrong with the file costs a measurement, nothing else."""
    path = _verdicts_path(cache)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, "never measured on this machine"
    except (OSError, UnicodeDecodeError) as exc:
        return None, f"{path} cannot be read: {exc}"
    try:
        data = json.loads(text)
    except ValueError:
        return None, f"{path} is corrupt (not JSON)"
    if not isinstance(data, dict):
        return None, f"{path} is corrupt (not a JSON object)"
    row = data.get(key)
    if row is None:
        return None, _why_missing(key, data)
    return _verdict(row, budget_ms, path)


def _why_missing(key: str, data: dict) -> str:
    """No verdict for ``key``: one measured under another llama.cpp build on this machine (a
    new build may be faster or slower), or none at all."""
    ours = key.rsplit("|", 5)
    for other in data:
        theirs = str(other).rsplit("|", 5)
        if len(theirs) != 6 or len(ours) != 6 or theirs[_BUILD] == ours[_BUILD]:
            continue
        if theirs[:_BUILD] + theirs[_BUILD + 1 :] == ours[:_BUILD] + ours[_BUILD + 1 :]:
            return f"measured under llama-cpp-python {theirs[_BUILD]}, this is {ours[_BUILD]}"
    return "never measured on this machine with these settings"


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if value == value and 0 < value < float("inf") else None


def _verdict(row: object, budget_ms: float, path: Path) -> tuple[Verdict | None, str]:
    bad = f"{path} is corrupt (a verdict of the wrong shape)"
    if not isinstance(row, dict):
        return None, bad
    probe_ms, prompt_tps, generate_tps = (
        _number(row.get(k)) for k in ("probe_ms", "prompt_tps", "generate_tps")
    )
    if probe_ms is None or prompt_tps is None or generate_tps is None:
        return None, bad
    if "busy" not in row:  # written before measurements were checked for a busy machine
        return None, "the verdict remembered was measured without checking the machine's load"
    busy = row["busy"]
    if busy is not None and (
        isinstance(busy, bool) or not isinstance(busy, int | float) or not 0 <= busy <= 1
    ):
        return None, bad
    return Verdict(probe_ms, budget_ms, prompt_tps, generate_tps, busy), ""


def remember(key: str, verdict: Verdict, cache: Path | None = None) -> str:
    """Keep a trusted verdict for ``key`` (an untrusted one is never written): "" when kept,
    else what went wrong, for the user (also logged)."""
    if not verdict.trusted:
        return ""
    path = _verdicts_path(cache)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            data = {}
    except (OSError, ValueError):
        data = {}
    data[key] = {
        "probe_ms": verdict.probe_ms,
        "prompt_tps": verdict.prompt_tps,
        "generate_tps": verdict.generate_tps,
        "busy": verdict.busy,
    }
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:  # a read-only or full cache costs a probe next start, nothing else
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)  # a half-written file on a full disk is worth nothing
        message = (
            f"auto model verdict not remembered in {path} ({exc.strerror or exc}): the 1.5B "
            "is measured again at the next start"
        )
        log.warning("%s", message)
        return message
    return ""


def probe(engine, budget_ms: float, cancel: CancelToken | None = None) -> Verdict:
    """Time a warm keystroke on ``engine``: a cached prompt, then new tokens and a short answer.

    The per-token rates come from the timed request; the verdict projects them onto exactly
    ``PROBE_NEW_TOKENS`` + ``PROBE_GENERATED`` tokens, so an early stop token cannot flatter it.
    ``cancel`` (idle-time work: any request sets it) stops it between tokens with ``Cancelled``.
    The CPU other processes used meanwhile decides whether the verdict can be trusted.
    """
    cancel = cancel or CancelToken()
    dialect = engine.dialect
    tokens = engine.tokenize(_PROBE_CODE)
    split = max(8, len(tokens) - PROBE_NEW_TOKENS)
    suffix = engine.tokenize(_PROBE_SUFFIX)

    def ask(prefix: list[int], n: int):
        request = GenerationRequest(prompt=dialect.build(prefix, suffix), max_tokens=n)
        return engine.generate(request, cancel)

    before = sample_cpu()
    # Warm-up: the prompt without its last line's tokens, into the KV cache (not timed).
    ask(tokens[:split], 1)
    cancel.check()
    started = time.perf_counter()
    timed = ask(tokens, PROBE_GENERATED)
    wall_ms = (time.perf_counter() - started) * 1000
    busy = others_share(before, sample_cpu(), os.cpu_count() or 1, _ticks_per_s())
    prompt_tps = timed.evaluated_tokens / max(timed.prompt_ms / 1000, 1e-6)
    generated = max(timed.generated_tokens, 1)
    generate_tps = generated / max(timed.generate_ms / 1000, 1e-6)
    projected = 1000 * (PROBE_NEW_TOKENS / max(prompt_tps, 1e-6) + PROBE_GENERATED / generate_tps)
    verdict = Verdict(
        round(projected, 1),
        budget_ms,
        round(prompt_tps, 1),
        round(generate_tps, 2),
        None if busy is None else round(busy, 3),
        distrust(prompt_tps, generate_tps, timed.evaluated_tokens, busy),
    )
    log.info(
        "auto model probe: %.0f ms projected (%.0f ms measured, %d new prompt tokens at %.0f/s, "
        "%d generated at %.1f/s), budget %.0f ms, %s",
        projected,
        wall_ms,
        timed.evaluated_tokens,
        prompt_tps,
        timed.generated_tokens,
        generate_tps,
        budget_ms,
        "machine load unknown" if busy is None else f"others used {busy:.0%} of the CPU",
    )
    return verdict
