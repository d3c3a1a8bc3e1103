"""HF StarCoder-family checkpoint -> GGUF -> quantized GGUF, parity-tested, with the B5 report.

Modules: ``convert`` (HF -> GGUF F32/F16 with the ``gguf`` package), ``quantize`` (llama.cpp's
``llama_model_quantize``), ``evaluate`` + ``measure`` (the B5 table), ``tiny`` + ``parity`` +
``pipeline`` (tiny random models and the transformers-vs-llama.cpp checks). The CLI is
``python -m quantization``; heavy dependencies come with ``pip install 'infill-lsp[quantization]'``.
"""

from .errors import ConvertError, QuantizationError, QuantizeError

__all__ = ["ConvertError", "QuantizationError", "QuantizeError"]
