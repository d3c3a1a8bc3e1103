"""Errors of the model layer, worded for the person who has to fix them.

Both reach the user through ``window/showMessage`` or the CLI, so their messages name the file,
the setting or the command that resolves the problem.
"""

from __future__ import annotations


class ModelError(Exception):
    """The model cannot be used: missing, not GGUF, no FIM tokens, failed checksum, ..."""


class GGUFError(ModelError):
    """The file is not a readable GGUF file (bad magic, truncated, unsupported version)."""


class TruncatedGGUF(GGUFError):
    """The file ends before its data does: cut off while being copied or downloaded, or
    truncated on disk. Its fix is another copy, not another conversion."""
