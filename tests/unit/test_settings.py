from lsp_server.settings import Settings, merge, to_wire


def test_defaults_are_complete_and_sane():
    s = Settings()
    assert s.prefix_tokens == 1500 and s.suffix_tokens == 500
    assert s.n_gpu_layers == 0 and s.enable
    assert s.effective_threads() >= 1


def test_camel_case_wire_names_and_section():
    s, errors = merge(Settings(), {"infill": {"prefixTokens": 300, "nGpuLayers": -1}})
    assert errors == []
    assert s.prefix_tokens == 300 and s.n_gpu_layers == -1


def test_flat_options_work_too():
    s, errors = merge(Settings(), {"suffixTokens": 64, "disabledLanguages": ["markdown"]})
    assert errors == [] and s.suffix_tokens == 64 and s.disabled_languages == ("markdown",)


def test_invalid_values_keep_previous_and_report_each_key():
    base, _ = merge(Settings(), {"prefixTokens": 700})
    s, errors = merge(base, {"prefixTokens": "lots", "temperature": 9, "enable": "yes"})
    assert s.prefix_tokens == 700 and s.temperature == 0.0 and s.enable is True
    assert len(errors) == 3
    assert any("prefixTokens" in e and "keeping 700" in e for e in errors)
    assert any("temperature" in e and "between" in e for e in errors)


def test_unknown_keys_are_reported_not_applied():
    s, errors = merge(Settings(), {"prefixToken": 10})
    assert s == Settings()
    assert errors == ["unknown setting 'prefixToken' (ignored)"]


def test_non_object_settings_are_rejected_cleanly():
    s, errors = merge(Settings(), ["not", "a", "dict"])
    assert s == Settings() and "must be an object" in errors[0]
    assert merge(Settings(), None) == (Settings(), [])


def test_model_path_expands_user(monkeypatch):
    monkeypatch.setenv("HOME", "/home/someone")
    s, _ = merge(Settings(), {"modelPath": "~/models/x.gguf"})
    assert s.model_path == "/home/someone/models/x.gguf"


def test_to_wire_round_trips():
    s, _ = merge(Settings(), {"maxTokens": 64, "disabledLanguages": ["go"]})
    again, errors = merge(Settings(), to_wire(s))
    assert errors == [] and again == s


def test_choice_settings_are_validated():
    s, errors = merge(Settings(), {"completionFallback": "always"})
    assert errors == [] and s.completion_fallback == "always"
    s, errors = merge(s, {"completionFallback": "sometimes"})
    assert s.completion_fallback == "always"
    assert "expected one of auto, always, never" in errors[0]
