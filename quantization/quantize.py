"""GGUF -> quantized GGUF through llama.cpp's own quantizer (``llama_model_quantize``, as
exposed by llama-cpp-python), with per-tensor progress.

Progress: the C function has no progress callback, but it logs one line per tensor
(``[  12/  28]  blk.1.attn_qkv.weight - [  256,   384,     1,     1], type = f32, ...``); a log
callback installed for the duration of the call turns those into ``progress(done, total, line)``
calls and keeps the last lines for the error message if the quantizer fails. llama-cpp-python's
own log callback is restored afterwards.

Which tensors get which type is llama.cpp's decision (e.g. Q4_K_M keeps the output matrix and
half of the attention V / FFN down matrices at Q6_K; 1-D tensors stay F32). Tensors whose rows
are not a multiple of the block size (256 for k-quants) fall back to a legacy type; llama.cpp
logs that and we count it in ``QuantizeResult.fallbacks``.
"""

from __future__ import annotations

import ctypes
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .errors import QuantizeError

ProgressFn = Callable[[int, int, str], None]

# Our names -> llama_cpp's ftype constant names (the types B5 reports, plus a few extra).
TYPES: dict[str, str] = {
    "Q8_0": "LLAMA_FTYPE_MOSTLY_Q8_0",
    "Q6_K": "LLAMA_FTYPE_MOSTLY_Q6_K",
    "Q5_K_M": "LLAMA_FTYPE_MOSTLY_Q5_K_M",
    "Q5_K_S": "LLAMA_FTYPE_MOSTLY_Q5_K_S",
    "Q5_0": "LLAMA_FTYPE_MOSTLY_Q5_0",
    "Q4_K_M": "LLAMA_FTYPE_MOSTLY_Q4_K_M",
    "Q4_K_S": "LLAMA_FTYPE_MOSTLY_Q4_K_S",
    "Q4_0": "LLAMA_FTYPE_MOSTLY_Q4_0",
    "Q3_K_M": "LLAMA_FTYPE_MOSTLY_Q3_K_M",
    "Q2_K": "LLAMA_FTYPE_MOSTLY_Q2_K",
    "F16": "LLAMA_FTYPE_MOSTLY_F16",
    "BF16": "LLAMA_FTYPE_MOSTLY_BF16",
}
REPORT_TYPES = ("Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q4_0")
_TENSOR_LINE = re.compile(r"\[\s*(\d+)\s*/\s*(\d+)\s*\]\s+(\S+)")
_lock = threading.Lock()  # the log callback is process-global


@dataclass
class QuantizeResult:
    src: Path
    dst: Path
    qtype: str
    size_in: int
    size_out: int
    seconds: float
    n_tensors: int
    fallbacks: list[str] = field(default_factory=list)


def normalize_type(name: str) -> str:
    key = name.strip().upper()
    if key not in TYPES:
        raise QuantizeError(f"unknown quant type {name!r}; one of {', '.join(TYPES)}")
    return key


def quantize(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    qtype: str,
    *,
    nthread: int = 0,
    allow_requantize: bool = False,
    progress: ProgressFn | None = None,
) -> QuantizeResult:
    """Quantize GGUF ``src`` to ``dst`` as ``qtype`` (e.g. "Q4_K_M") with llama.cpp."""
    import llama_cpp
    from llama_cpp import _logger

    key = normalize_type(qtype)
    source, target = Path(src), Path(dst)
    if not source.is_file():
        raise QuantizeError(f"{source}: no such GGUF file")
    if source.resolve() == target.resolve():
        raise QuantizeError("output path must differ from the input")
    with open(source, "rb") as fh:
        if fh.read(4) != b"GGUF":
            raise QuantizeError(f"{source}: not a GGUF file")
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, TYPES[key])
    params.nthread = nthread
    params.allow_requantize = allow_requantize

    tail: list[str] = []
    fallbacks: list[str] = []
    seen = [0]
    pending = [""]

    def on_line(line: str) -> None:
        tail.append(line)
        del tail[:-20]
        if "fallback" in line.lower() or "falling back" in line.lower():
            fallbacks.append(line.strip())
        match = _TENSOR_LINE.search(line)
        if match:
            seen[0] = int(match.group(1))
            if progress is not None:
                progress(int(match.group(1)), int(match.group(2)), match.group(3))

    @llama_cpp.llama_log_callback
    def on_log(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
        pending[0] += text.decode("utf-8", errors="replace")
        *lines, pending[0] = pending[0].split("\n")
        for line in lines:
            on_line(line)

    started = time.perf_counter()
    with _lock:
        llama_cpp.llama_log_set(on_log, ctypes.c_void_p(0))
        try:
            rc = llama_cpp.llama_model_quantize(
                str(source).encode(), str(part).encode(), ctypes.byref(params)
            )
        finally:
            llama_cpp.llama_log_set(_logger.llama_log_callback, ctypes.c_void_p(0))
    if pending[0]:
        on_line(pending[0])
    if rc != 0 or not part.is_file():
        part.unlink(missing_ok=True)
        detail = "\n".join(x for x in tail if x.strip())[-1500:]
        raise QuantizeError(f"llama.cpp failed to quantize {source} to {key} (rc={rc}):\n{detail}")
    os.replace(part, target)
    return QuantizeResult(
        src=source,
        dst=target,
        qtype=key,
        size_in=source.stat().st_size,
        size_out=target.stat().st_size,
        seconds=time.perf_counter() - started,
        n_tensors=seen[0],
        fallbacks=fallbacks,
    )
