import dataclasses
from dataclasses import fields
from pathlib import Path

from lsp_server.settings import (
    BOUNDS,
    CHOICES,
    RELOAD_KEYS,
    SPECS,
    Settings,
    markdown_table,
    merge,
    needs_reload,
    to_wire,
)

README = Path(__file__).resolve().parents[2] / "README.md"


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


def test_repo_context_is_auto_on_or_off_and_takes_the_old_booleans():
    assert Settings().repo_context == "auto"
    on, errors = merge(Settings(), {"repoContext": True})
    off, more = merge(Settings(), {"repoContext": False})
    assert errors == more == [] and on.repo_context == "on" and off.repo_context == "off"
    bad, errors = merge(Settings(), {"repoContext": "sometimes"})
    assert bad.repo_context == "auto" and "auto, on, off" in errors[0]
    assert not off.indexes_workspace() and on.indexes_workspace()
    assert Settings().indexes_workspace()  # auto keeps the index (a switch to "on" is instant)


def test_auto_repo_context_leaves_instruction_tuned_models_without_snippets():
    auto = Settings()
    assert not auto.repo_context_for("qwen2.5-coder-0.5b-instruct-q4_k_m.gguf")
    assert not auto.repo_context_for("/m/Qwen2.5-Coder-1.5B-Instruct-Q4_K_M.gguf")
    assert not auto.repo_context_for("codegemma-7b-it-Q4_K_M.gguf")
    assert auto.repo_context_for("starcoder2-3b-Q4_K_M.gguf")
    assert auto.repo_context_for("ollama:qwen2.5-coder:1.5b-base")
    on, _ = merge(Settings(), {"repoContext": "on"})
    off, _ = merge(Settings(), {"repoContext": "off"})
    assert on.repo_context_for("qwen2.5-coder-0.5b-instruct-q4_k_m.gguf")
    assert not off.repo_context_for("starcoder2-3b-Q4_K_M.gguf")


def test_every_setting_has_a_one_line_doc():
    for f in fields(Settings):
        doc = SPECS[f.name].doc
        assert doc.strip() and "\n" not in doc and "|" not in doc, f.name


def test_choice_defaults_are_among_the_choices():
    assert CHOICES  # the derivation found them
    for name, choices in CHOICES.items():
        assert getattr(Settings(), name) in choices, name


def test_bounded_defaults_are_within_the_bounds():
    assert BOUNDS
    for name, (lo, hi) in BOUNDS.items():
        assert lo <= getattr(Settings(), name) <= hi, name


def test_reload_keys_are_the_ones_the_loader_needs():
    assert set(RELOAD_KEYS) == {
        "model",
        "model_path",
        "n_gpu_layers",
        "n_threads",
        "context_size",
        "kv_reuse_min_tokens",
        "speculation",
        "resident_states_mb",
        "engine",
        "remote_url",
        "remote_model",
        "remote_api_key_env",
        "remote_fim_dialect",
        "remote_slot",
        "remote_vocab",
        "remote_timeout_ms",
        "remote_max_concurrent",
        "remote_redact",
    }


def test_needs_reload_only_for_reload_keys():
    base = Settings()
    assert needs_reload(base, dataclasses.replace(base, context_size=8192))
    assert not needs_reload(base, dataclasses.replace(base, prefix_tokens=300))
    assert not needs_reload(base, Settings())


def test_readme_settings_table_is_rendered_from_the_fields():
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    table = "".join(line + "\n" for line in section.splitlines() if line.startswith("|"))
    assert table == markdown_table(), "README.md: paste `python -m lsp_server.settings`"
