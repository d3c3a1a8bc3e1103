"""Which model gets loaded: explicit path > INFILL_LSP_MODEL > embedded default, all checked."""

from __future__ import annotations

import pytest

from lsp_server.model import default
from lsp_server.model.errors import ModelError
from lsp_server.model.resolve import resolve_model
from tests.helpers.fake_chunks import make_chunk_packages, make_spec
from tests.helpers.gguf_writer import gguf_bytes, qwen_like_kv, vocab_kv, write_gguf

STARCODER = ["a", "<|endoftext|>", "<fim_prefix>", "<fim_middle>", "<fim_suffix>", "<fim_pad>"]


@pytest.fixture
def embedded(tmp_path, monkeypatch):
    """A fake embedded spec (tiny Qwen-shaped GGUF in chunk packages) and a clean environment."""
    data = gguf_bytes(qwen_like_kv()) + b"\0" * 1000
    site = tmp_path / "site"
    chunks = make_chunk_packages(site, data)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("INFILL_LSP_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("INFILL_LSP_MODEL", raising=False)
    return make_spec(chunks, data)


@pytest.fixture
def user_model(tmp_path):
    return write_gguf(tmp_path / "starcoder2.gguf", vocab_kv(STARCODER, eos="<|endoftext|>"))


def test_embedded_default_when_nothing_is_set(embedded, tmp_path):
    seen = []
    model = resolve_model(None, embedded=embedded, progress=lambda d, t: seen.append((d, t)))
    assert model.source == "embedded" and model.verified is True
    assert model.path == tmp_path / "cache" / "tiny.gguf" and model.path.is_absolute()
    assert model.size == embedded.size
    assert model.metadata.architecture == "qwen2"
    assert model.dialect.name == "qwen" and model.name == "tiny qwen"
    assert seen[-1] == (embedded.size, embedded.size)
    assert resolve_model("", embedded=embedded).source == "embedded"  # "" = setting not set


def test_env_beats_embedded(embedded, user_model, monkeypatch):
    monkeypatch.setenv("INFILL_LSP_MODEL", str(user_model))
    model = resolve_model(None, embedded=embedded)
    assert (model.source, model.path, model.verified) == ("env", user_model, False)
    assert model.dialect.name == "starcoder"
    assert model.size == user_model.stat().st_size


def test_explicit_beats_env(embedded, user_model, tmp_path, monkeypatch):
    monkeypatch.setenv("INFILL_LSP_MODEL", str(tmp_path / "does-not-matter.gguf"))
    model = resolve_model(str(user_model), embedded=embedded)
    assert (model.source, model.path) == ("setting", user_model)


def test_explicit_relative_and_home_paths_become_absolute(user_model, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert resolve_model("starcoder2.gguf").path == user_model
    monkeypatch.setenv("HOME", str(tmp_path))
    assert resolve_model("~/starcoder2.gguf").path == user_model


def test_explicit_missing_file(embedded, tmp_path):
    with pytest.raises(ModelError, match=r"Model file not found.*modelPath setting"):
        resolve_model(str(tmp_path / "nope.gguf"), embedded=embedded)


def test_env_missing_file_names_the_variable(embedded, tmp_path, monkeypatch):
    monkeypatch.setenv("INFILL_LSP_MODEL", str(tmp_path / "nope.gguf"))
    with pytest.raises(ModelError, match=r"not found.*INFILL_LSP_MODEL"):
        resolve_model(None, embedded=embedded)


def test_explicit_directory(embedded, tmp_path):
    with pytest.raises(ModelError, match="is a directory"):
        resolve_model(str(tmp_path), embedded=embedded)


def test_explicit_file_that_is_not_gguf(embedded, tmp_path):
    path = tmp_path / "model.safetensors"
    path.write_bytes(b'{"__metadata__": {}}' + b"\0" * 64)
    with pytest.raises(ModelError, match=r"not a GGUF model file.*convert") as info:
        resolve_model(str(path), embedded=embedded)
    assert str(path) in str(info.value)


def test_model_without_fim_tokens_is_refused(embedded, tmp_path):
    chat_only = ["a", "<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    path = write_gguf(tmp_path / "chat.gguf", vocab_kv(chat_only, eos="<|im_end|>", name="Chat"))
    with pytest.raises(ModelError) as info:
        resolve_model(str(path), embedded=embedded)
    message = str(info.value)
    assert "has no fill-in-the-middle tokens" in message and "Chat" in message
    for dialect in ("Qwen2.5-Coder", "StarCoder", "CodeLlama", "DeepSeek-Coder"):
        assert dialect in message


def test_model_without_vocabulary_is_refused(embedded, tmp_path):
    path = write_gguf(tmp_path / "bare.gguf", {"general.architecture": "llama"})
    with pytest.raises(ModelError, match="no tokenizer vocabulary"):
        resolve_model(str(path), embedded=embedded)


def test_embedded_with_bad_checksum_is_never_returned(embedded, tmp_path):
    bad = make_spec(embedded.chunks, b"x" * embedded.size, sha256="f" * 64)
    with pytest.raises(ModelError, match="checksum"):
        resolve_model(None, embedded=bad)
    assert not (tmp_path / "cache" / "tiny.gguf").exists()


def test_unknown_embedded_selector(monkeypatch):
    monkeypatch.delenv("INFILL_LSP_MODEL", raising=False)
    with pytest.raises(ModelError, match="Unknown embedded model '3b'"):
        resolve_model(None, embedded="3b")


@pytest.mark.model
def test_real_embedded_default(monkeypatch):
    """Joins the real 491 MB default once into the user cache (cached afterwards)."""
    monkeypatch.delenv("INFILL_LSP_MODEL", raising=False)
    model = resolve_model(None)
    assert model.source == "embedded" and model.verified
    assert model.size == default.QWEN_05B.size == model.path.stat().st_size
    assert model.metadata.architecture == "qwen2"
    assert model.metadata.chat_template and "<|im_start|>" in model.metadata.chat_template
    d = model.dialect
    assert (d.name, d.prefix_id, d.suffix_id, d.middle_id) == ("qwen", 151659, 151661, 151660)
    assert {151643, 151645, 151662, 151663, 151664} <= d.stop_ids  # eot, im_end, pad, repo, sep
    assert len(model.metadata.tokens) == 151_936

    def no_rehash(*_args, **_kwargs):
        raise AssertionError("a later start must trust the sidecar, not rehash 491 MB")

    monkeypatch.setattr(default, "sha256_file", no_rehash)
    again = resolve_model(None)  # a later start: sidecar, no rehash
    assert again.path == model.path
