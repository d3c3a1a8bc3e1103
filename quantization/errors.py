"""Errors the toolkit reports to the user as one clear line (no traceback from the CLI)."""


class QuantizationError(Exception):
    """Base class: the CLI prints ``error: <message>`` and exits with status 2."""


class ConvertError(QuantizationError):
    """The checkpoint cannot be converted (missing file, unsupported architecture, ...)."""


class QuantizeError(QuantizationError):
    """llama.cpp's quantizer refused or failed."""
