"""The ``model`` setting: auto / 0.5b / 1.5b / a path, and the remembered auto verdict."""

from __future__ import annotations

import pytest

from lsp_server import loader
from lsp_server.model import choice
from lsp_server.model.choice import Choice, Verdict
from lsp_server.model.default import QWEN_05B, QWEN_15B
from lsp_server.settings import Settings, merge


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
    assert choice.remembered(key, 1500, cache=tmp_path) is None
    choice.remember(key, Verdict(2100.0, 1500, 90.0, 12.0), cache=tmp_path)
    again = choice.remembered(key, 1500, cache=tmp_path)
    assert again == Verdict(2100.0, 1500, 90.0, 12.0) and not again.ok
    assert choice.remembered(key, 2500, cache=tmp_path).ok  # a larger maxTimeMs: fast enough
    other = choice.machine_key(QWEN_15B, threads=8, gpu_layers=0)
    assert choice.remembered(other, 1500, cache=tmp_path) is None


def test_a_corrupt_verdicts_file_is_ignored_and_rewritten(tmp_path):
    (tmp_path / choice.VERDICTS_FILE).write_text("{not json", encoding="utf-8")
    assert choice.remembered("k", 1500, cache=tmp_path) is None
    choice.remember("k", Verdict(10.0, 1500, 1.0, 1.0), cache=tmp_path)
    assert choice.remembered("k", 1500, cache=tmp_path).ok


class _Recorder:
    """Stands in for the loading half of the loader: which model it was asked to load."""

    def __init__(self, monkeypatch, *, big_installed: bool, verdict: Verdict | None):
        self.loaded: list[str] = []
        self.probed = 0
        self.closed = 0
        self.remembered: list[Verdict] = []
        monkeypatch.setattr(loader, "installed", lambda spec: big_installed)
        monkeypatch.setattr(loader, "remembered", lambda key, budget: verdict)
        monkeypatch.setattr(loader, "remember", lambda key, v: self.remembered.append(v))
        monkeypatch.setattr(loader, "resolve_model", self.resolve)
        monkeypatch.setattr(loader, "_load", self.load)
        monkeypatch.setattr(loader, "probe", self.probe)
        monkeypatch.delenv("INFILL_LSP_MODEL", raising=False)
        self.probe_ms = 0.0

    def resolve(self, explicit, progress=None, embedded=None):
        return explicit or getattr(embedded, "selector", embedded)

    def load(self, settings, resolved):
        self.loaded.append(resolved)
        recorder = self

        class Engine:
            def close(self):
                recorder.closed += 1

        return loader.LoadedModel(None, Engine())

    def probe(self, engine, budget):
        self.probed += 1
        return Verdict(self.probe_ms, budget, 100.0, 20.0)


def test_auto_without_the_big_model_installed_loads_the_default(monkeypatch):
    r = _Recorder(monkeypatch, big_installed=False, verdict=None)
    loaded = loader.load_engine(Settings())
    assert r.loaded == ["0.5b"] and r.probed == 0
    assert loaded.choice.picked == "0.5b" and "not installed" in loaded.choice.reason


@pytest.mark.parametrize(("probe_ms", "picked"), [(800.0, "1.5b"), (2600.0, "0.5b")])
def test_auto_measures_once_and_keeps_the_big_model_only_when_fast_enough(
    monkeypatch, probe_ms, picked
):
    r = _Recorder(monkeypatch, big_installed=True, verdict=None)
    r.probe_ms = probe_ms
    loaded = loader.load_engine(Settings())
    assert r.probed == 1 and len(r.remembered) == 1
    assert loaded.choice.picked == picked
    if picked == "1.5b":
        assert r.loaded == ["1.5b"] and r.closed == 0
    else:
        assert r.loaded == ["1.5b", "0.5b"] and r.closed == 1  # the big one is freed first
        assert "over 1500 ms" in loaded.choice.reason


def test_auto_trusts_a_remembered_verdict(monkeypatch):
    r = _Recorder(monkeypatch, big_installed=True, verdict=Verdict(3000.0, 1500, 50.0, 8.0))
    loaded = loader.load_engine(Settings())
    assert r.loaded == ["0.5b"] and r.probed == 0 and "measured before" in loaded.choice.reason
    r2 = _Recorder(monkeypatch, big_installed=True, verdict=Verdict(900.0, 1500, 300.0, 40.0))
    assert loader.load_engine(Settings()).choice.picked == "1.5b"
    assert r2.loaded == ["1.5b"] and r2.probed == 0


def test_explicit_selector_and_path_skip_the_probe(monkeypatch):
    r = _Recorder(monkeypatch, big_installed=True, verdict=None)
    s, _ = merge(Settings(), {"model": "0.5b"})
    assert loader.load_engine(s).choice == Choice("0.5b", "0.5b", "set by the model setting")
    s, _ = merge(Settings(), {"model": "/m/own.gguf"})
    loader.load_engine(s)
    assert r.loaded == ["0.5b", "/m/own.gguf"] and r.probed == 0
    assert QWEN_05B.selector == "0.5b"
