"""The GGUF metadata reader: values of every type, the model's keys, and clear errors."""

from __future__ import annotations

import ctypes
import importlib.util
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from lsp_server.model import gguf
from lsp_server.model.errors import GGUFError, ModelError, TruncatedGGUF
from lsp_server.model.gguf import check_complete, read_metadata
from tests.helpers.gguf_writer import (
    T_BOOL,
    T_FLOAT32,
    T_INT8,
    T_INT16,
    T_INT32,
    T_INT64,
    T_STRING,
    T_UINT8,
    T_UINT16,
    T_UINT32,
    T_UINT64,
    Typed,
    gguf_bytes,
    qwen_like_kv,
    write_gguf,
)


def test_reads_every_value_type(tmp_path):
    kv = {
        "u8": Typed(T_UINT8, 255),
        "i8": Typed(T_INT8, -128),
        "u16": Typed(T_UINT16, 65535),
        "i16": Typed(T_INT16, -32768),
        "u32": 4_000_000_000,
        "i32": Typed(T_INT32, -5),
        "u64": Typed(T_UINT64, 2**63 + 1),
        "i64": Typed(T_INT64, -(2**40)),
        "f32": Typed(T_FLOAT32, 0.5),
        "f64": 1e-300,
        "flag": Typed(T_BOOL, True),
        "text": "héllo ▁ 世界",
        "empty": "",
        "strings": ["a", "", "ü", "<|fim_prefix|>"],
        "ints": Typed(T_INT32, [1, -2, 3], is_array=True),
        "floats": Typed(T_FLOAT32, [0.25, 2.0], is_array=True),
        "bools": Typed(T_BOOL, [True, False], is_array=True),
        "nested": [[1, 2], [3]],
        "no_items": Typed(T_STRING, [], is_array=True),
    }
    meta = read_metadata(write_gguf(tmp_path / "m.gguf", kv, tensor_count=7, filler=b"\0" * 64))
    assert meta.version == 3
    assert meta.tensor_count == 7
    expected = {k: (v.value if isinstance(v, Typed) else v) for k, v in kv.items()}
    assert meta.kv == expected
    assert isinstance(meta.kv["flag"], bool)


def test_version_2_is_supported(tmp_path):
    meta = read_metadata(write_gguf(tmp_path / "m.gguf", {"general.name": "old"}, version=2))
    assert meta.version == 2
    assert meta.model_name == "old"


def test_model_accessors(tmp_path):
    kv = qwen_like_kv(
        **{"qwen2.context_length": 32768, "tokenizer.ggml.eot_token_id": 52},
    )
    meta = read_metadata(write_gguf(tmp_path / "m.gguf", kv))
    assert meta.architecture == "qwen2"
    assert meta.model_name == "tiny qwen"
    assert meta.tokens == kv["tokenizer.ggml.tokens"]
    assert meta.token_types == [1] * len(meta.tokens)
    assert meta.tokens[meta.eos_id] == "<|im_end|>"
    assert meta.tokens[meta.bos_id] == "<|endoftext|>"
    assert meta.eot_id == 52
    assert meta.add_bos is False
    assert meta.chat_template == "{{ messages }}"
    assert meta.context_length == 32768


def test_accessors_default_when_keys_are_missing(tmp_path):
    meta = read_metadata(write_gguf(tmp_path / "m.gguf", {}))
    assert meta.kv == {}
    assert meta.tokens == []
    assert meta.token_types == []
    assert (meta.architecture, meta.model_name, meta.eos_id, meta.bos_id) == (None,) * 4
    assert (meta.chat_template, meta.add_bos, meta.context_length) == (None,) * 3
    assert meta.fim_ids == {}


def test_fim_ids_from_metadata_keys(tmp_path):
    kv = {
        "tokenizer.ggml.fim_pre_token_id": 1,
        "tokenizer.ggml.suffix_token_id": 2,  # the older spelling
        "tokenizer.ggml.fim_mid_token_id": 3,
        "tokenizer.ggml.fim_sep_token_id": 4,
    }
    meta = read_metadata(write_gguf(tmp_path / "m.gguf", kv))
    assert meta.fim_ids == {"prefix": 1, "suffix": 2, "middle": 3, "sep": 4}


def test_invalid_utf8_token_is_kept_readable(tmp_path):
    raw = gguf_bytes({"tokenizer.ggml.tokens": ["ok", "XX"]})
    path = tmp_path / "m.gguf"
    path.write_bytes(raw.replace(b"XX", b"\xff\xfe"))
    assert read_metadata(path).tokens == ["ok", "\ufffd\ufffd"]


def test_bad_magic_is_a_clear_error(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(b"PK\x03\x04" + b"\0" * 100)
    with pytest.raises(GGUFError, match=r"not a GGUF model file") as info:
        read_metadata(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, ModelError)


@pytest.mark.parametrize(
    ("version", "why"),
    [
        (1, "v1 is obsolete"),
        (4, "supported versions are 2, 3"),
        (0x03000000, "big-endian"),
    ],
)
def test_unsupported_version(tmp_path, version, why):
    path = write_gguf(tmp_path / "m.gguf", {"a": 1}, version=version)
    with pytest.raises(GGUFError, match=f"unsupported GGUF version {version}.*{why}"):
        read_metadata(path)


def test_every_truncation_is_a_clear_error(tmp_path):
    full = gguf_bytes(qwen_like_kv(n_plain=3, **{"f": 1.5, "ints": [1, 2], "nest": [["x"]]}))
    path = tmp_path / "m.gguf"
    for cut in range(len(full)):
        path.write_bytes(full[:cut])
        with pytest.raises(GGUFError, match=r"truncated|empty"):
            read_metadata(path)
    path.write_bytes(full)
    assert read_metadata(path).model_name == "tiny qwen"


def test_absurd_counts_fail_fast_without_allocating(tmp_path):
    header = b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 1) + b"k"
    path = tmp_path / "m.gguf"
    path.write_bytes(header + struct.pack("<IIQ", 9, T_STRING, 2**60))
    with pytest.raises(GGUFError, match="truncated"):
        read_metadata(path)
    path.write_bytes(header + struct.pack("<IIQ", 9, T_INT32, 2**60))
    with pytest.raises(GGUFError, match="truncated"):
        read_metadata(path)


def test_unknown_value_type(tmp_path):
    header = b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 1) + b"k"
    path = tmp_path / "m.gguf"
    path.write_bytes(header + struct.pack("<I", 99) + b"\0" * 16)
    with pytest.raises(GGUFError, match="unknown value type 99"):
        read_metadata(path)


def test_empty_missing_and_directory(tmp_path):
    empty = tmp_path / "empty.gguf"
    empty.write_bytes(b"")
    with pytest.raises(GGUFError, match="empty"):
        read_metadata(empty)
    with pytest.raises(GGUFError, match="cannot read"):
        read_metadata(tmp_path / "missing.gguf")
    with pytest.raises(GGUFError, match="directory"):
        read_metadata(tmp_path)


def test_large_vocabulary_reads_every_token(tmp_path):
    # Qwen2.5-Coder's shape: 151,936 tokens and as many merges, plus token types. (No timing
    # assertion: a loaded CI machine would make it flaky; speed is not a test's business.)
    n = 151_936
    kv = {
        "tokenizer.ggml.tokens": [f"Ġtoken{i}" for i in range(n)],
        "tokenizer.ggml.token_type": Typed(T_INT32, [1] * n, is_array=True),
        "tokenizer.ggml.merges": [f"Ġ t{i}" for i in range(n)],
    }
    path = write_gguf(tmp_path / "big.gguf", kv)
    meta = read_metadata(path)
    assert len(meta.tokens) == n and meta.tokens[-1] == f"Ġtoken{n - 1}"
    assert meta.tokens[12_345] == "Ġtoken12345"


def with_tensors(alignment: int = 64) -> bytes:
    """A GGUF with two tensors: 10 F32 values at offset 0, one Q4_K block (256 values, 144
    bytes) at offset 64, after the tensor infos and the alignment padding."""
    tensors = [(b"a", (10,), 0, 0), (b"b", (16, 16), 12, 64)]
    out = gguf_bytes({"general.alignment": Typed(T_UINT32, alignment)}, tensor_count=2)
    for name, dims, ggml_type, offset in tensors:
        out += struct.pack("<Q", len(name)) + name + struct.pack("<I", len(dims))
        out += b"".join(struct.pack("<Q", d) for d in dims) + struct.pack("<IQ", ggml_type, offset)
    out += b"\0" * (-len(out) % alignment)
    return out + b"\1" * (64 + 144)


def test_a_file_cut_before_its_tensor_data_ends_is_truncated(tmp_path):
    full = with_tensors()
    path = tmp_path / "m.gguf"
    path.write_bytes(full)
    check_complete(path, read_metadata(path))
    for cut in (1, 144, 64 + 144):  # into the last tensor, its whole data, all data
        path.write_bytes(full[:-cut])
        with pytest.raises(TruncatedGGUF, match=f"needs {len(full):,} bytes, the file has"):
            check_complete(path, read_metadata(path))


def test_a_q8_1_tensor_takes_ggmls_36_bytes_a_block(tmp_path):
    """block_q8_1: two halves (d, s) and 32 int8 (gguf-py's table says 40, from when the
    scales were floats): a complete file is not taken for a truncated one."""
    name = b"q"
    out = gguf_bytes({}, tensor_count=1)
    out += struct.pack("<Q", len(name)) + name + struct.pack("<I", 1) + struct.pack("<Q", 64)
    out += struct.pack("<IQ", 9, 0)  # GGML_TYPE_Q8_1, at offset 0
    out += b"\0" * (-len(out) % 32)
    path = tmp_path / "q8_1.gguf"
    path.write_bytes(out + b"\1" * (2 * 36))  # two blocks of 32 values
    check_complete(path, read_metadata(path))
    path.write_bytes(out + b"\1" * (2 * 36 - 1))
    with pytest.raises(TruncatedGGUF, match=f"needs {len(out) + 72:,} bytes"):
        check_complete(path, read_metadata(path))


def test_the_block_sizes_are_ggmls_own():
    """Every type in the table, against the ggml that llama-cpp-python ships."""
    spec = importlib.util.find_spec("llama_cpp")
    libs = sorted(
        Path(spec.submodule_search_locations[0]).glob("lib/libggml-base.so*")
        if spec is not None and spec.submodule_search_locations
        else []
    )
    if not libs:
        pytest.skip("no libggml-base from llama-cpp-python here")
    ggml = ctypes.CDLL(str(libs[0]))
    ggml.ggml_blck_size.restype = ctypes.c_int64
    ggml.ggml_type_size.restype = ctypes.c_size_t
    ggml.ggml_blck_size.argtypes = ggml.ggml_type_size.argtypes = [ctypes.c_int]
    ours = gguf._BLOCKS
    assert ours == {t: (ggml.ggml_blck_size(t), ggml.ggml_type_size(t)) for t in ours}


CUT_WHILE_CHECKED = """
import os, sys
from lsp_server.model import gguf

path = sys.argv[1]
metadata = gguf.read_metadata(path)
data_end = gguf._data_end

def cut_then_read(*args):
    os.truncate(path, 0)  # cut (another copy starting over) once the check has begun
    return data_end(*args)

gguf._data_end = cut_then_read
try:
    gguf.check_complete(path, metadata)
except gguf.GGUFError as exc:
    print(type(exc).__name__)
"""


def test_a_file_cut_while_it_is_checked_is_told_truncated_and_kills_nothing(tmp_path):
    """Its pages mapped, a file cut under the reader is SIGBUS: the process dies. Read, it
    comes back short: a truncated file, told."""
    path = tmp_path / "m.gguf"
    path.write_bytes(with_tensors())
    done = subprocess.run(
        [sys.executable, "-c", CUT_WHILE_CHECKED, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert (done.returncode, done.stdout.strip()) == (0, "TruncatedGGUF"), done.stderr


def test_a_read_that_comes_back_short_is_truncated(tmp_path):
    path = tmp_path / "m.gguf"
    path.write_bytes(with_tensors())
    with open(path, "rb") as fh:
        reader = gguf._Reader(fh, str(path))
        os.truncate(path, 10)  # cut after its size was taken
        reader.need(4, "the magic number")
        with pytest.raises(TruncatedGGUF, match="needs 64 more bytes for a key at offset 0, fi"):
            reader.need(64, "a key")
