"""``model: auto`` in the server: the 0.5B serves at once, the 1.5B is measured in idle time (a
request wins), a trusted fast verdict switches models without a restart, a busy or failed
measurement keeps the 0.5B; the busy-machine measurement from /proc/stat snapshots; and
``infill-lsp model [--measure]``. No real model loads: the loader's loading half is faked."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import threading
import time
from types import SimpleNamespace

import pytest

from lsp_server import cli, loader
from lsp_server.engine.base import Cancelled, CancelToken
from lsp_server.loader import LoadedModel
from lsp_server.model import choice
from lsp_server.model import resolve as resolve_module
from lsp_server.model.choice import CpuSample, Verdict, busy_ticks, others_share
from lsp_server.model.errors import ModelError
from lsp_server.services import model as model_service
from lsp_server.settings import Settings
from tests.helpers.fake_engine import FakeEngine
from tests.unit.test_handlers import Harness

# /proc/stat's aggregate line: user nice system idle iowait irq softirq steal guest guest_nice
BEFORE = "cpu  1000 20 300 9000 50 5 5 0 0 0\ncpu0 500 10 150 4500 25 3 2 0 0 0\nintr 1 2 3\n"
OTHERS_BUSY = "cpu  1300 20 400 9200 60 5 5 0 0 0\ncpu0 650 10 200 4600 30 3 2 0 0 0\n"
ONLY_US = "cpu  1080 20 320 9300 60 5 5 0 0 0\n"
STOLEN = "cpu  1080 20 320 9000 50 5 5 300 0 0\n"


# -- how busy the machine was: pure, from /proc/stat snapshots


def test_others_share_of_the_machine_from_proc_stat_snapshots():
    assert busy_ticks(BEFORE) == 1000 + 20 + 300 + 5 + 5  # idle and iowait are not busy
    before = CpuSample(10.0, busy_ticks(BEFORE), own_s=2.0)
    # 400 busy ticks (4 s at 100 Hz) in 2 s on 2 CPUs, 1 s of it ours: others used 3 of 4 s
    after = CpuSample(12.0, busy_ticks(OTHERS_BUSY), own_s=3.0)
    assert others_share(before, after, cpus=2, ticks_per_s=100) == pytest.approx(0.75)
    # 1 s busy, all of it ours (the probe itself): nobody else
    quiet = CpuSample(12.0, busy_ticks(ONLY_US), own_s=3.0)
    assert others_share(before, quiet, cpus=2, ticks_per_s=100) == pytest.approx(0.0)
    # a hypervisor's steal slows the probe like a local process
    stolen = CpuSample(12.0, busy_ticks(STOLEN), own_s=3.0)
    assert others_share(before, stolen, cpus=2, ticks_per_s=100) == pytest.approx(0.75)
    # our CPU time counted a tick more than the system's (granularity): never below 0, above 1
    assert others_share(before, CpuSample(12.0, 1330, 9.0), cpus=2, ticks_per_s=100) == 0.0
    assert others_share(before, CpuSample(10.5, 99999, 2.0), cpus=2, ticks_per_s=100) == 1.0


def test_the_share_is_unknown_without_proc_stat_or_elapsed_time():
    assert busy_ticks("") is None and busy_ticks("cpu  a b c\n") is None
    assert busy_ticks("cpu  7 0 3\n") == 10  # an old kernel's short line
    before = CpuSample(10.0, None, 0.0)
    assert others_share(before, CpuSample(12.0, 500, 1.0), cpus=2, ticks_per_s=100) is None
    same = CpuSample(10.0, 100, 0.0)
    assert others_share(same, same, cpus=2, ticks_per_s=100) is None


def test_when_a_measurement_is_not_trusted():
    assert choice.distrust(140.0, 35.0, evaluated=40, busy=0.05) == ""
    assert choice.distrust(140.0, 35.0, evaluated=40, busy=None) == ""  # load unknown (macOS)
    assert "60% of the CPU" in choice.distrust(140.0, 35.0, evaluated=40, busy=0.6)
    assert "implausibly slow" in choice.distrust(140.0, 1.2, evaluated=40, busy=0.0)
    assert "slower than generated" in choice.distrust(20.0, 35.0, evaluated=40, busy=0.0)
    assert "only 3 new prompt tokens" in choice.distrust(140.0, 35.0, evaluated=3, busy=0.0)


def test_retries_back_off_and_end():
    delays = [choice.retry_delay(n) for n in range(1, choice.MAX_UNTRUSTED + 1)]
    assert delays[:-1] == [60.0, 240.0, 960.0][: choice.MAX_UNTRUSTED - 1]
    assert delays[-1] is None


def _cpu(busy: bool):
    """``sample_cpu`` with a fake /proc/stat: every sample 100 s busier (busy) or not at all."""
    ticks = itertools.count(step=10_000 if busy else 0)
    return lambda: CpuSample(time.monotonic(), next(ticks), 0.0)


def test_the_probe_honours_its_cancel_token(monkeypatch):
    monkeypatch.setattr(choice, "sample_cpu", _cpu(busy=False))
    gate = threading.Event()
    engine = FakeEngine(gate=gate)
    token = CancelToken()
    threading.Timer(0.05, token.cancel, ("a request came",)).start()
    with pytest.raises(Cancelled, match="a request came"):
        choice.probe(engine, 1500, token)
    assert len(engine.prompts) == 1  # stopped in the warm-up, never timed


def test_a_busy_probe_is_not_remembered(monkeypatch, tmp_path):
    monkeypatch.setenv("INFILL_LSP_CACHE", str(tmp_path))
    monkeypatch.setattr(choice, "sample_cpu", _cpu(busy=True))
    verdict = loader.measure(FakeEngine(answer=lambda _p: "return 1"), Settings())
    assert verdict.busy == 1.0 and not verdict.trusted and "of the CPU" in verdict.distrust
    assert not (tmp_path / choice.VERDICTS_FILE).exists()
    monkeypatch.setattr(choice, "sample_cpu", _cpu(busy=False))
    verdict = loader.measure(FakeEngine(answer=lambda _p: "return 1"), Settings())
    assert verdict.trusted and verdict.ok
    assert loader.recall(loader.auto_key(Settings()), 1500) == (
        Verdict(verdict.probe_ms, 1500.0, verdict.prompt_tps, verdict.generate_tps, 0.0),
        "",
    )


# -- the server: ModelService with a fake 0.5B and 1.5B


class Auto:
    """A handler harness whose model loads through the real loader and ModelService, with the
    two embedded models faked (``loads`` records what was loaded, in order)."""

    def __init__(self, monkeypatch, tmp_path, *, big: FakeEngine, busy: bool = False, fail=None):
        self.small = FakeEngine(answer=lambda _p: "a + b", name="qwen-0.5b.gguf")
        self.big = big
        self.loads: list[str] = []
        monkeypatch.setenv("INFILL_LSP_CACHE", str(tmp_path))
        monkeypatch.delenv("INFILL_LSP_MODEL", raising=False)
        monkeypatch.setattr(model_service, "QUIET_S", 0.05)
        monkeypatch.setattr(loader, "installed", lambda spec: True)
        monkeypatch.setattr(
            loader, "resolve_model", lambda _e, progress=None, embedded=None: "0.5b"
        )
        monkeypatch.setattr(loader, "resolve_candidate", lambda progress=None: "1.5b")
        monkeypatch.setattr(choice, "sample_cpu", _cpu(busy))

        def load(_settings, resolved):
            self.loads.append(resolved)
            if resolved == "1.5b" and fail is not None:
                raise fail
            engine = self.big if resolved == "1.5b" else self.small
            engine.closed = False
            return LoadedModel(None, engine)

        monkeypatch.setattr(loader, "_load", load)
        self.h = Harness(self.small, prefetch=False)
        self.model = self.h.services.model
        self.model.loaded, self.model.state = None, "starting"

    def choice(self) -> dict:
        return self.h.services.status()["model"]["choice"]

    def pushed(self) -> list[dict]:
        return [p for m, p in self.h.client.notified if m == model_service.STATUS_CHANGED]


async def until(condition, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_the_small_model_serves_before_the_probe_ends(monkeypatch, tmp_path):
    gate = threading.Event()  # the 1.5B's probe never ends by itself
    a = Auto(monkeypatch, tmp_path, big=FakeEngine(answer=lambda _p: "a * b", gate=gate))
    await a.model.load()
    assert a.model.state == "ready" and a.model.engine is a.small and a.loads == ["0.5b"]
    assert a.choice()["measuring"] and a.choice()["picked"] == "0.5b"
    assert "measured in idle time (never measured" in a.choice()["reason"]
    assert a.pushed()[-1]["model"]["choice"]["measuring"] is True  # status bars see it too
    await until(lambda: a.big.prompts)  # the probe runs, in idle time
    assert a.model.engine is a.small and a.choice()["measuring"]
    a.model.shutdown()  # stops the probe and lets go of the 1.5B
    await until(lambda: a.big.closed)
    assert not a.small.closed


async def test_a_request_cancels_the_probe_which_runs_again_after_a_quiet_period(
    monkeypatch, tmp_path
):
    gate = threading.Event()
    a = Auto(monkeypatch, tmp_path, big=FakeEngine(answer=lambda _p: "a * b", gate=gate))
    await a.model.load()
    a.h.open()
    await until(lambda: a.big.prompts)  # the probe's warm-up waits at the gate
    assert await a.h.inline() == "a + b"  # answered at once by the 0.5B: the probe yielded
    assert len(a.big.prompts) == 1 and a.model.engine is a.small
    gate.set()  # from now on the 1.5B answers at once
    await until(lambda: a.model.engine is a.big)
    assert len(a.big.prompts) == 3  # the cancelled warm-up, then warm-up + timed request again
    assert a.loads == ["0.5b", "1.5b"]  # the 1.5B stayed loaded across the retry


async def test_a_trusted_fast_verdict_switches_models_without_a_restart(monkeypatch, tmp_path):
    a = Auto(monkeypatch, tmp_path, big=FakeEngine(answer=lambda _p: "a * b", name="qwen-1.5b"))
    await a.model.load()
    assert a.model.engine is a.small
    a.h.open()
    assert await a.h.inline() == "a + b"  # the 0.5B's suggestion, in the typing cache
    await until(lambda: a.model.engine is a.big)
    # the 0.5B is let go, not closed: a fix that still holds it finishes on it
    assert not a.small.closed and a.model.loaded.engine is a.big
    assert a.model.state == "ready" and not a.big.closed
    last = a.pushed()[-1]
    assert last["state"] == "ready" and last["message"] == "qwen-1.5b"
    assert last["model"]["choice"]["picked"] == "1.5b" and not last["model"]["choice"]["measuring"]
    assert last["model"]["choice"]["trusted"] is True
    assert "(measured now), within 1500 ms" in a.choice()["reason"]
    assert a.h.services.completions._completer is None  # the 0.5B's pipeline was dropped
    # the same place again: the 1.5B answers (the typing cache let go of the 0.5B's answers)
    assert await a.h.inline() == "a * b" and "def add" in a.big.prompts[-1]
    remembered, _ = loader.recall(loader.auto_key(Settings()), 1500)
    assert remembered is not None and remembered.ok  # the next start loads the 1.5B at once


async def test_a_load_superseded_by_a_newer_one_never_serves(monkeypatch, tmp_path):
    gate = threading.Event()  # the probe waits: only the loads matter here
    a = Auto(monkeypatch, tmp_path, big=FakeEngine(answer=lambda _p: "a * b", gate=gate))
    smalls: list[FakeEngine] = []

    def load(_settings, resolved):
        engine = a.big if resolved == "1.5b" else FakeEngine(answer=lambda _p: "a + b")
        if resolved != "1.5b":
            smalls.append(engine)
        return LoadedModel(None, engine)

    monkeypatch.setattr(loader, "_load", load)
    # settings changed twice while loading: two loads queued on the worker; the first one
    # stops after its file work (the second is there), so only the second loads a model
    await asyncio.gather(a.model.load(), a.model.load())
    (only,) = smalls
    assert a.model.engine is only and not only.closed
    await until(lambda: a.big.prompts)
    assert len(a.big.prompts) == 1  # one measurement, for the model that serves
    a.model.shutdown()


async def test_a_reload_whose_file_is_damaged_leaves_the_old_model_serving(monkeypatch, tmp_path):
    a = Auto(monkeypatch, tmp_path, big=FakeEngine(answer=lambda _p: "a * b"))
    await a.model.load()
    a.model._stop_measuring()
    a.h.open()

    def damaged(_explicit, progress=None, embedded=None):
        raise ModelError("/models/m.gguf: file is truncated")

    monkeypatch.setattr(loader, "resolve_model", damaged)
    await a.model.load()  # e.g. contextSize changed: the file is read again
    assert a.model.state == "ready" and a.model.engine is a.small and not a.small.closed
    (told,) = [m for m in a.h.client.told if "truncated" in m]
    assert "keeps serving" in told and a.small.name in told
    assert await a.h.inline() == "a + b"
    assert a.loads == ["0.5b"]  # nothing was let go or loaded for the failed reload


async def test_a_measurement_for_a_model_no_longer_serving_switches_nothing(monkeypatch, tmp_path):
    a = Auto(monkeypatch, tmp_path, big=FakeEngine(answer=lambda _p: "a * b"))
    await a.model.load()
    a.model._stop_measuring()
    a.model._candidate = LoadedModel(None, a.big)
    verdict = Verdict(100.0, 1500.0, 140.0, 35.0, 0.0)
    a.model._judge(verdict, serving=LoadedModel(None, FakeEngine()))  # a reload came meanwhile
    assert a.model.engine is a.small
    await until(lambda: a.big.closed)  # the candidate is let go


async def test_a_busy_probe_is_not_trusted_measured_again_then_given_up(
    monkeypatch, tmp_path, caplog
):
    monkeypatch.setattr(choice, "RETRY_AFTER_S", 0.01)
    monkeypatch.setattr(choice, "MAX_UNTRUSTED", 2)
    a = Auto(monkeypatch, tmp_path, big=FakeEngine(answer=lambda _p: "a * b"), busy=True)
    with caplog.at_level(logging.WARNING, logger="infill-lsp"):
        await a.model.load()
        await until(lambda: not a.choice()["measuring"])
    assert a.model.engine is a.small and a.model.state == "ready"
    assert a.loads == ["0.5b", "1.5b", "1.5b"]
    await until(lambda: a.big.closed)  # let go after each try
    reasons = [p["model"]["choice"]["reason"] for p in a.pushed() if p["model"]]
    assert any("not trusted" in r and "measuring again in" in r for r in reasons)
    assert "gave up after 2 tries" in a.choice()["reason"]
    assert "infill-lsp model --measure" in a.choice()["reason"]
    assert a.choice()["trusted"] is False and a.choice()["othersCpu"] == 1.0
    warned = [r for r in caplog.records if "not trusted" in r.getMessage()]
    assert len(warned) == 2  # one line per try, saying why
    assert not (tmp_path / choice.VERDICTS_FILE).exists()  # nothing remembered


async def test_a_corrupt_verdict_file_is_measured_again(monkeypatch, tmp_path):
    (tmp_path / choice.VERDICTS_FILE).write_text('{"oops": [', encoding="utf-8")
    a = Auto(monkeypatch, tmp_path, big=FakeEngine(answer=lambda _p: "a * b"))
    await a.model.load()
    assert "is corrupt (not JSON)" in a.choice()["reason"] and a.model.engine is a.small
    await until(lambda: a.model.engine is a.big)
    assert loader.recall(loader.auto_key(Settings()), 1500)[0].ok  # the file was rewritten


@pytest.mark.parametrize("failure", ["load", "probe"])
async def test_a_failing_1_5b_keeps_the_small_model_serving(monkeypatch, tmp_path, caplog, failure):
    if failure == "load":
        big, fail = FakeEngine(), ModelError("1.5B chunk 7 is damaged")
    else:
        big, fail = FakeEngine(fail=RuntimeError("llama_decode returned -3")), None
    a = Auto(monkeypatch, tmp_path, big=big, fail=fail)
    with caplog.at_level(logging.WARNING, logger="infill-lsp"):
        await a.model.load()
        await until(lambda: not a.choice()["measuring"])
    assert a.model.state == "ready" and a.model.engine is a.small
    assert "could not be measured" in a.choice()["reason"]
    assert ("damaged" if failure == "load" else "llama_decode") in a.choice()["reason"]
    assert len([r for r in caplog.records if "could not be measured" in r.getMessage()]) == 1
    if failure == "probe":
        await until(lambda: a.big.closed)
    a.h.open()
    assert await a.h.inline() == "a + b"


async def test_a_remembered_verdict_picks_directly_without_a_probe(monkeypatch, tmp_path):
    key = loader.auto_key(Settings())
    choice.remember(key, Verdict(900.0, 1500, 200.0, 30.0, 0.02), cache=tmp_path)
    a = Auto(monkeypatch, tmp_path, big=FakeEngine(answer=lambda _p: "a * b"))
    monkeypatch.setattr(loader, "resolve_model", lambda _e, progress=None, embedded=None: "1.5b")
    await a.model.load()
    assert a.model.engine is a.big and a.loads == ["1.5b"]
    assert not a.choice()["measuring"] and "(measured before)" in a.choice()["reason"]
    await asyncio.sleep(0.15)  # well past a quiet period: nothing measured
    assert a.big.prompts == [] and a.model._measuring is None


# -- infill-lsp model [--measure]


def test_model_measure_parses():
    args = cli.build_parser().parse_args(["model", "--measure", "--json", "--set", "nThreads=4"])
    assert args.command == "model" and args.measure and args.json and args.set == ["nThreads=4"]
    assert not cli.build_parser().parse_args(["model"]).measure


def _fake_cli(monkeypatch, tmp_path, *, installed: bool = True, busy: bool = False):
    monkeypatch.setenv("INFILL_LSP_CACHE", str(tmp_path))
    monkeypatch.delenv("INFILL_LSP_MODEL", raising=False)
    monkeypatch.setattr(loader, "installed", lambda spec: installed)
    monkeypatch.setattr(choice, "installed", lambda spec: installed)
    monkeypatch.setattr(choice, "sample_cpu", _cpu(busy))
    monkeypatch.setattr(loader, "resolve_candidate", lambda progress=None: "1.5b")
    big = FakeEngine(answer=lambda _p: "return 1")
    monkeypatch.setattr(loader, "load_candidate", lambda s, r: LoadedModel(None, big))

    def resolve(explicit, progress=None, embedded=None):
        name = explicit or f"/cache/{embedded.filename}"
        return SimpleNamespace(
            path=name,
            verified=True,
            source="embedded",
            dialect=SimpleNamespace(name="qwen"),
            size=1,
        )

    monkeypatch.setattr(resolve_module, "resolve_model", resolve)
    return big


def test_model_says_which_model_serves_and_that_the_1_5b_will_be_measured(
    monkeypatch, tmp_path, capsys
):
    _fake_cli(monkeypatch, tmp_path)
    assert cli.main(["model"]) == 0
    out = capsys.readouterr().out
    assert "serves    0.5b (model: auto): serving the 0.5B while the 1.5B is measured" in out
    assert "measures the 1.5B in idle time" in out and "--measure" in out


def test_model_measure_measures_prints_and_remembers(monkeypatch, tmp_path, capsys):
    big = _fake_cli(monkeypatch, tmp_path)
    assert cli.main(["model", "--measure"]) == 0
    captured = capsys.readouterr()
    assert "trusted; fits the budget; remembered" in captured.err and big.closed
    assert "serves    1.5b (model: auto)" in captured.out and "(measured before)" in captured.out
    assert "measured  ~" in captured.out and "prompt" in captured.out
    assert cli.main(["model", "--json"]) == 0  # later: the remembered verdict, with its numbers
    info = json.loads(capsys.readouterr().out)
    assert info["choice"]["picked"] == "1.5b" and info["choice"]["trusted"] is True
    assert {"probeMs", "budgetMs", "promptTps", "generateTps", "othersCpu"} <= set(info["choice"])


def test_model_measure_on_a_busy_machine_does_not_remember(monkeypatch, tmp_path, capsys):
    _fake_cli(monkeypatch, tmp_path, busy=True)
    assert cli.main(["model", "--measure", "--json"]) == 0
    captured = capsys.readouterr()
    assert "not remembered" in captured.err
    info = json.loads(captured.out)
    assert info["measured"]["trusted"] is False and info["choice"]["measuring"] is True
    assert not (tmp_path / choice.VERDICTS_FILE).exists()


def test_model_measure_without_the_1_5b_installed(monkeypatch, tmp_path, capsys):
    _fake_cli(monkeypatch, tmp_path, installed=False)
    assert cli.main(["model", "--measure"]) == cli.EXIT_FAILED
    assert "not installed" in capsys.readouterr().err


def test_model_measure_with_a_failing_probe_says_so(monkeypatch, tmp_path, capsys):
    big = _fake_cli(monkeypatch, tmp_path)
    big.fail = RuntimeError("llama_decode returned -3")
    assert cli.main(["model", "--measure"]) == cli.EXIT_FAILED
    assert "could not be measured: llama_decode returned -3" in capsys.readouterr().err
    assert big.closed


def test_a_verdict_that_cannot_be_kept_is_said_to_the_caller(monkeypatch, tmp_path):
    """A full or read-only cache: the user hears it (the server's log), not only stderr."""
    monkeypatch.setenv("INFILL_LSP_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(choice, "sample_cpu", _cpu(busy=False))
    (tmp_path / "cache").write_text("a file where the cache folder should be")
    heard: list[str] = []
    verdict = loader.measure(
        FakeEngine(answer=lambda _p: "return 1"), Settings(), None, heard.append
    )
    assert verdict.trusted
    assert len(heard) == 1 and heard[0].startswith("auto model verdict not remembered in ")
