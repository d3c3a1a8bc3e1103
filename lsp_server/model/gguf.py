"""A small, dependency-free reader for the metadata of a GGUF file.

Why our own: we need the vocabulary (to find the FIM dialect), the chat template and a sanity
check that a user's file really is GGUF *before* handing it to llama.cpp, which aborts the
process or prints an unhelpful error on bad input. Only the header and the key/value section are
read (``read_metadata``), then the tensor infos (``check_complete``); weights are never touched,
so this costs well under a second even for a 151k-token vocabulary.

The file is read, never memory-mapped: a mapped file truncated while it is read (the very
failure ``check_complete`` looks for) kills the process with SIGBUS; a read just comes back
short, which is told as a truncated file.

Format (little-endian, v2/v3): magic ``GGUF``, u32 version, u64 tensor count, u64 key/value
count, then for each key a length-prefixed UTF-8 string, a u32 value type and the value.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from .errors import GGUFError, TruncatedGGUF

MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)

# Value type ids of the GGUF spec.
T_UINT8, T_INT8, T_UINT16, T_INT16, T_UINT32, T_INT32, T_FLOAT32, T_BOOL = range(8)
T_STRING, T_ARRAY, T_UINT64, T_INT64, T_FLOAT64 = range(8, 13)

# Fixed-size scalar types -> struct format character.
_SCALAR_FMT: dict[int, str] = {
    T_UINT8: "B",
    T_INT8: "b",
    T_UINT16: "H",
    T_INT16: "h",
    T_UINT32: "I",
    T_INT32: "i",
    T_FLOAT32: "f",
    T_BOOL: "?",
    T_UINT64: "Q",
    T_INT64: "q",
    T_FLOAT64: "d",
}
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")

DEFAULT_ALIGNMENT = 32
# ggml tensor types -> (elements per block, bytes per block), as ggml's type traits say
# (``ggml_blck_size``, ``ggml_type_size``; gguf-py's GGML_QUANT_SIZES still gives Q8_1 40 bytes,
# from when its two scales were floats: ggml's block_q8_1 is two halves and 32 int8, 36). A type
# missing here (newer than this table) counts only its offset.
_BLOCKS: dict[int, tuple[int, int]] = {
    0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34),
    9: (32, 36), 10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176),
    14: (256, 210), 15: (256, 292), 16: (256, 66), 17: (256, 74), 18: (256, 98),
    19: (256, 50), 20: (32, 18), 21: (256, 110), 22: (256, 82), 23: (256, 136), 24: (1, 1),
    25: (1, 2), 26: (1, 4), 27: (1, 8), 28: (1, 8), 29: (256, 56), 30: (1, 2),
    34: (256, 54), 35: (256, 66), 39: (32, 17),
}  # fmt: skip


@dataclass(frozen=True)
class GGUFMetadata:
    """The key/value section of a GGUF file, with accessors for the keys we rely on."""

    version: int
    tensor_count: int
    kv: dict[str, Any] = field(repr=False)
    kv_end: int = 0  # where the tensor infos start (``check_complete`` reads them)

    @property
    def architecture(self) -> str | None:
        return self.kv.get("general.architecture")

    @property
    def model_name(self) -> str | None:
        return self.kv.get("general.name")

    @property
    def tokens(self) -> list[str]:
        return self.kv.get("tokenizer.ggml.tokens") or []

    @property
    def token_types(self) -> list[int]:
        return self.kv.get("tokenizer.ggml.token_type") or []

    @property
    def eos_id(self) -> int | None:
        return self.kv.get("tokenizer.ggml.eos_token_id")

    @property
    def bos_id(self) -> int | None:
        return self.kv.get("tokenizer.ggml.bos_token_id")

    @property
    def eot_id(self) -> int | None:
        return self.kv.get("tokenizer.ggml.eot_token_id")

    @property
    def add_bos(self) -> bool | None:
        """Whether the tokenizer expects BOS first; None when the file does not say."""
        value = self.kv.get("tokenizer.ggml.add_bos_token")
        return None if value is None else bool(value)

    @property
    def chat_template(self) -> str | None:
        return self.kv.get("tokenizer.chat_template")

    @property
    def context_length(self) -> int | None:
        """The context the model was trained for (``<arch>.context_length``)."""
        arch = self.architecture
        return self.kv.get(f"{arch}.context_length") if arch else None

    @property
    def fim_ids(self) -> dict[str, int]:
        """FIM token ids stated in the metadata by newer converters (a fallback to the vocab).

        Keys are ``prefix``/``suffix``/``middle``/``pad``/``repo``/``sep`` where present.
        """
        found: dict[str, int] = {}
        names = {
            "prefix": ("fim_pre", "prefix"),
            "suffix": ("fim_suf", "suffix"),
            "middle": ("fim_mid", "middle"),
            "pad": ("fim_pad",),
            "repo": ("fim_rep",),
            "sep": ("fim_sep",),
        }
        for role, keys in names.items():
            for key in keys:
                value = self.kv.get(f"tokenizer.ggml.{key}_token_id")
                if isinstance(value, int):
                    found[role] = value
                    break
        return found


# The first read of a file, and the least a later one reads: the key/value section of a large
# vocabulary is a few MB (Qwen2.5's: 5.9 MB), read in a few growing steps.
_CHUNK = 1 << 16


class _Reader:
    """Bounds-checked cursor over a file read as it goes (never mapped: see the module's
    docstring); every overrun is a clear 'truncated' error. ``buf`` holds the file's bytes
    from offset ``base`` on, as far as read; ``pos`` is an index into it."""

    __slots__ = ("base", "buf", "end", "fh", "path", "pos")

    def __init__(self, fh: BinaryIO, path: str, base: int = 0) -> None:
        self.fh = fh
        self.path = path
        self.base = base
        self.end = os.fstat(fh.fileno()).st_size - base  # the file's end, as an index
        fh.seek(base)
        self.buf = b""  # bytes: slices of bytes decode faster than a bytearray's
        self.pos = 0

    def check(self, n: int, what: str) -> None:
        """Whether the file is long enough for ``n`` more bytes (read none)."""
        if n < 0 or self.pos + n > self.end:
            raise TruncatedGGUF(
                f"{self.path}: file is truncated or corrupt (needs {n} more bytes for {what} "
                f"at offset {self.base + self.pos}, file has {self.base + self.end})"
            )

    def need(self, n: int, what: str) -> None:
        """``n`` more bytes from ``pos``, read now if they are not yet."""
        self.check(n, what)
        missing = self.pos + n - len(self.buf)
        if missing > 0:
            # at least doubling: the copies of what was read stay linear in its size
            want = min(max(missing, len(self.buf), _CHUNK), self.end - len(self.buf))
            self.buf += self.fh.read(want)
            if len(self.buf) < self.pos + n:  # the file was cut while being read
                self.end = len(self.buf)
                self.check(n, what)

    def u32(self, what: str) -> int:
        self.need(4, what)
        (value,) = _U32.unpack_from(self.buf, self.pos)
        self.pos += 4
        return value

    def u64(self, what: str) -> int:
        self.need(8, what)
        (value,) = _U64.unpack_from(self.buf, self.pos)
        self.pos += 8
        return value

    def string(self, what: str) -> str:
        n = self.u64(what)
        self.need(n, what)
        raw = self.buf[self.pos : self.pos + n]
        self.pos += n
        return _decode(raw)

    def scalar(self, vtype: int, what: str) -> Any:
        fmt = _SCALAR_FMT[vtype]
        size = struct.calcsize(fmt)
        self.need(size, what)
        (value,) = struct.unpack_from("<" + fmt, self.buf, self.pos)
        self.pos += size
        return value

    def value(self, vtype: int, what: str) -> Any:
        if vtype == T_STRING:
            return self.string(what)
        if vtype == T_ARRAY:
            return self.array(what)
        if vtype in _SCALAR_FMT:
            return self.scalar(vtype, what)
        raise GGUFError(f"{self.path}: unknown value type {vtype} for {what} (corrupt file?)")

    def array(self, what: str) -> list[Any]:
        etype = self.u32(what)
        count = self.u64(what)
        if etype == T_STRING:
            return self.string_array(count, what)
        if etype in _SCALAR_FMT:
            fmt = _SCALAR_FMT[etype]
            size = struct.calcsize(fmt) * count
            self.need(size, what)
            values = struct.unpack_from(f"<{count}{fmt}", self.buf, self.pos)
            self.pos += size
            return list(values)
        if etype == T_ARRAY:
            return [self.array(what) for _ in range(count)]
        raise GGUFError(f"{self.path}: unknown array element type {etype} for {what}")

    def string_array(self, count: int, what: str) -> list[str]:
        """The hot loop (151k tokens + 151k merges): inlined for speed, still bounds-checked."""
        # Each element needs at least its 8-byte length; reject absurd counts before allocating.
        self.check(8 * count, what)
        buf, pos, loaded, unpack = self.buf, self.pos, len(self.buf), _U64.unpack_from
        out: list[str] = []
        append = out.append
        for _ in range(count):
            if pos + 8 > loaded:
                self.pos = pos
                self.need(8, what)
                buf, loaded = self.buf, len(self.buf)
            (n,) = unpack(buf, pos)
            pos += 8
            if pos + n > loaded:
                self.pos = pos
                self.need(n, what)
                buf, loaded = self.buf, len(self.buf)
            append(_decode(buf[pos : pos + n]))
            pos += n
        self.pos = pos
        return out


def _decode(raw: bytes) -> str:
    # Some vocabularies hold byte-level pieces that are not valid UTF-8 on their own; keep them
    # readable rather than failing the whole file.
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("utf-8", errors="replace")


def _parse(fh: BinaryIO, path: str) -> GGUFMetadata:
    reader = _Reader(fh, path)
    reader.need(4, "the magic number")
    magic = bytes(reader.buf[0:4])
    if magic != MAGIC:
        raise GGUFError(f"{path}: not a GGUF model file (starts with {magic!r}, expected b'GGUF')")
    reader.pos = 4
    version = reader.u32("the version")
    if version not in SUPPORTED_VERSIONS:
        if version & 0xFFFF == 0 and (version >> 24) in SUPPORTED_VERSIONS:
            detail = "it is a big-endian GGUF; use a little-endian (standard) conversion"
        elif version == 1:
            detail = "GGUF v1 is obsolete; re-convert the model with a current llama.cpp"
        else:
            detail = f"supported versions are {', '.join(map(str, SUPPORTED_VERSIONS))}"
        raise GGUFError(f"{path}: unsupported GGUF version {version} ({detail})")
    tensor_count = reader.u64("the tensor count")
    kv_count = reader.u64("the key/value count")
    kv: dict[str, Any] = {}
    for index in range(kv_count):
        key = reader.string(f"key #{index}")
        vtype = reader.u32(f"the type of {key!r}")
        kv[key] = reader.value(vtype, repr(key))
    return GGUFMetadata(version=version, tensor_count=tensor_count, kv=kv, kv_end=reader.pos)


def _data_end(fh: BinaryIO, path: str, metadata: GGUFMetadata) -> int:
    """How long the file must be to hold every tensor's data, from the tensor infos."""
    reader = _Reader(fh, path, base=metadata.kv_end)
    end = 0
    for index in range(metadata.tensor_count):
        what = f"the info of tensor #{index}"
        reader.string(what)
        n_dims = reader.u32(what)
        elements = 1
        for _ in range(n_dims):
            elements *= reader.u64(what)
        ggml_type = reader.u32(what)
        offset = reader.u64(what)
        block, size = _BLOCKS.get(ggml_type, (1, 0))
        end = max(end, offset + -(-elements // block) * size)
    alignment = metadata.kv.get("general.alignment")
    if not isinstance(alignment, int) or alignment <= 0:
        alignment = DEFAULT_ALIGNMENT
    infos_end = reader.base + reader.pos
    if not end:  # no tensor data: no padding before it either (metadata-only test files)
        return infos_end
    return -(-infos_end // alignment) * alignment + end


def check_complete(path: str | os.PathLike[str], metadata: GGUFMetadata) -> None:
    """Raise TruncatedGGUF when the file ends before its tensor data does (cut off while
    being copied or downloaded, or truncated on disk): llama.cpp would refuse it with no
    reason a user can act on."""
    name = os.fspath(path)
    try:
        with open(name, "rb") as fh:
            needed = _data_end(fh, name, metadata)
            size = os.fstat(fh.fileno()).st_size  # now: it may have been cut meanwhile
    except OSError as exc:
        raise GGUFError(f"{name}: cannot read model file ({exc})") from exc
    if size < needed:
        raise TruncatedGGUF(
            f"{name}: file is truncated: its tensor data needs {needed:,} bytes, the file has "
            f"{size:,}"
        )


def read_metadata(path: str | os.PathLike[str]) -> GGUFMetadata:
    """Read the header and key/value metadata of a GGUF file; raise GGUFError if it is not one."""
    name = os.fspath(path)
    try:
        with open(name, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size == 0:
                raise GGUFError(f"{name}: file is empty, not a GGUF model file")
            return _parse(fh, name)
    except IsADirectoryError as exc:
        raise GGUFError(f"{name}: is a directory, not a GGUF model file") from exc
    except OSError as exc:
        raise GGUFError(f"{name}: cannot read model file ({exc.strerror or exc})") from exc
