"""The ``model`` setting: auto / 0.5b / 1.5b / a path, and the remembered auto verdict."""

from __future__ import annotations

import json

import pytest

from lsp_server import loader
from lsp_server.model import choice
from lsp_server.model.choice import Choice, Verdict
from lsp_server.model.default import QWEN_05B, QWEN_15B
from lsp_server.settings import Settings, merge
from tests.helpers.fake_engine import FakeEngine


def test_model_setting_accepts_selectors_and_paths():
    s, errors = merge(Settings(), {"model": "1.5b"})
    assert not errors and s.model == "1.5b" and s.explicit_model_path() == ""
    s, errors = merge(Settings(), {"model": "~/models/sc2.gguf"})
    assert not errors and s.explicit_model_path().endswith("/models/sc2.gguf")
    s, errors = merge(Settings(), {"model": " "})
    assert errors and "auto" in errors[0] and s.model == "auto"
    # modelPath wins over model
    s, _ = merge(Settings(), {"model": "1.5b", "modelPath": "/m/x.gguf"})
    assert s.explicit_model_path() == "/m/x.gguf"


def test_verdicts_are_remembered_per_machine_key_and_rejudged_against_the_budget(tmp_path):
    key = choice.machine_key(QWEN_15B, threads=2, gpu_layers=0)
    assert QWEN_15B.sha256 in key and "t2" in key
    assert choice.recall(key, 1500, cache=tmp_path) == (None, "never measured on this machine")
    choice.remember(key, Verdict(2100.0, 1500, 400.0, 60.0, 0.04), cache=tmp_path)
    again, note = choice.recall(key, 1500, cache=tmp_path)
    assert again == Verdict(2100.0, 1500, 400.0, 60.0, 0.04) and not again.ok and note == ""
    assert choice.recall(key, 2500, cache=tmp_path)[0].ok  # a larger maxTimeMs: fast enough
    other = choice.machine_key(QWEN_15B, threads=8, gpu_layers=0)
    assert choice.recall(other, 1500, cache=tmp_path)[0] is None


def test_an_untrusted_verdict_is_never_written(tmp_path):
    busy = Verdict(2100.0, 1500, 90.0, 12.0, 0.6, "other processes used 60% of the CPU")
    choice.remember("k", busy, cache=tmp_path)
    assert not (tmp_path / choice.VERDICTS_FILE).exists()


@pytest.mark.parametrize(
    ("content", "note"),
    [
        ("{not json", "corrupt (not JSON)"),
        ("[1, 2]", "corrupt (not a JSON object)"),
        ('{"K": "fast"}', "wrong shape"),
        ('{"K": {"probe_ms": "800", "prompt_tps": 90, "generate_tps": 12, "busy": 0}}', "shape"),
        ('{"K": {"probe_ms": true, "prompt_tps": 90, "generate_tps": 12, "busy": 0}}', "shape"),
        ('{"K": {"probe_ms": -5, "prompt_tps": 90, "generate_tps": 12, "busy": 0}}', "shape"),
        ('{"K": {"probe_ms": 800, "prompt_tps": 90, "generate_tps": 12, "busy": 7}}', "shape"),
        ('{"K": {"probe_ms": 800, "prompt_tps": 90, "generate_tps": 12}}', "machine's load"),
        (b"\xff\xfe{", "cannot be read"),
    ],
)
def test_a_corrupt_or_unchecked_verdict_is_measured_again_never_a_crash(tmp_path, content, note):
    path = tmp_path / choice.VERDICTS_FILE
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    verdict, why = choice.recall("K", 1500, cache=tmp_path)
    assert verdict is None and note in why
    choice.remember("K", Verdict(10.0, 1500, 400.0, 60.0, 0.0), cache=tmp_path)  # rewritten
    assert choice.recall("K", 1500, cache=tmp_path)[0].ok


def test_the_1_5b_must_also_answer_within_a_second_after_a_jump():
    """A keystroke within maxTimeMs is not enough: the first suggestion after a jump (~140 new
    prompt tokens and a line) must come within ``JUMP_BUDGET_MS`` too (B6's target)."""
    fits = Verdict(700.0, 1500, 400.0, 60.0, 0.0)  # 140/400 + 16/60 s = 617 ms
    assert fits.ok and fits.jump_ms == pytest.approx(616.7, abs=0.1)
    slow_jump = Verdict(700.0, 1500, 142.0, 35.0, 0.0)  # this 2-core machine: 986 + 457 ms
    assert not slow_jump.ok and slow_jump.jump_ms > choice.JUMP_BUDGET_MS
    why = choice.judged(slow_jump, "measured now").reason
    assert "after a jump here (measured now), over 1000 ms" in why and "keystroke: ~700" in why
    assert "over 1500 ms (maxTimeMs)" in choice.judged(Verdict(2000, 1500, 400, 60), "x").reason


def test_a_verdict_from_another_llama_cpp_build_is_measured_again(tmp_path, monkeypatch):
    monkeypatch.setattr(choice, "_llama_version", lambda: "0.3.1")
    old = choice.machine_key(QWEN_15B, threads=2, gpu_layers=0)
    choice.remember(old, Verdict(800.0, 1500, 100.0, 20.0, 0.0), cache=tmp_path)
    monkeypatch.setattr(choice, "_llama_version", lambda: "0.3.36")
    new = choice.machine_key(QWEN_15B, threads=2, gpu_layers=0)
    assert new != old
    verdict, note = choice.recall(new, 1500, cache=tmp_path)
    assert verdict is None and note == "measured under llama-cpp-python 0.3.1, this is 0.3.36"
    rows = json.loads((tmp_path / choice.VERDICTS_FILE).read_text(encoding="utf-8"))
    assert list(rows) == [old]


class _Recorder:
    """Stands in for the loading half of the loader: which model it was asked to load."""

    def __init__(self, monkeypatch, *, big_installed: bool, verdict: Verdict | None):
        self.loaded: list[str] = []
        monkeypatch.setattr(loader, "installed", lambda spec: big_installed)
        monkeypatch.setattr(
            loader, "recall", lambda key, budget: (verdict, "" if verdict else "never measured")
        )
        monkeypatch.setattr(loader, "probe", self.probe)
        monkeypatch.setattr(loader, "resolve_model", self.resolve)
        monkeypatch.setattr(loader, "_load", self.load)
        monkeypatch.delenv("INFILL_LSP_MODEL", raising=False)

    def resolve(self, explicit, progress=None, embedded=None):
        return explicit or getattr(embedded, "selector", embedded)

    def load(self, settings, resolved):
        self.loaded.append(resolved)
        return loader.LoadedModel(None, FakeEngine())

    def probe(self, engine, budget, cancel=None):
        raise AssertionError("loading never measures: the server does, in idle time")


def test_auto_without_the_big_model_installed_loads_the_default(monkeypatch):
    r = _Recorder(monkeypatch, big_installed=False, verdict=None)
    loaded = loader.load_engine(Settings())
    assert r.loaded == ["0.5b"]
    assert loaded.choice.picked == "0.5b" and "not installed" in loaded.choice.reason
    assert not loaded.choice.measuring


def test_auto_without_a_trusted_verdict_serves_the_small_model_and_measures_later(monkeypatch):
    r = _Recorder(monkeypatch, big_installed=True, verdict=None)
    loaded = loader.load_engine(Settings())
    assert r.loaded == ["0.5b"]  # no 1.5B loaded, no probe before serving
    assert loaded.choice.picked == "0.5b" and loaded.choice.measuring
    assert "measured in idle time (never measured)" in loaded.choice.reason
    assert loaded.describe()["choice"]["measuring"] is True


def test_auto_trusts_a_remembered_verdict(monkeypatch):
    r = _Recorder(monkeypatch, big_installed=True, verdict=Verdict(3000.0, 1500, 50.0, 8.0))
    loaded = loader.load_engine(Settings())
    assert r.loaded == ["0.5b"] and "measured before" in loaded.choice.reason
    assert not loaded.choice.measuring
    r2 = _Recorder(monkeypatch, big_installed=True, verdict=Verdict(900.0, 1500, 300.0, 40.0))
    assert loader.load_engine(Settings()).choice.picked == "1.5b"
    assert r2.loaded == ["1.5b"]


def test_explicit_selector_and_path_skip_the_probe(monkeypatch):
    r = _Recorder(monkeypatch, big_installed=True, verdict=None)
    s, _ = merge(Settings(), {"model": "0.5b"})
    assert loader.load_engine(s).choice == Choice("0.5b", "0.5b", "set by the model setting")
    s, _ = merge(Settings(), {"model": "/m/own.gguf"})
    assert loader.load_engine(s).choice is None
    assert r.loaded == ["0.5b", "/m/own.gguf"]
    assert QWEN_05B.selector == "0.5b"
