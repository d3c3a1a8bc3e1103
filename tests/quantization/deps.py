"""Optional heavy dependencies of the quantization tests: skip when missing, or fail when
``INFILL_REQUIRE_QUANTIZATION=1`` (CI installs the extra and sets it, so a broken install cannot
pass as "skipped")."""

from __future__ import annotations

import importlib.util
import os

import pytest

REQUIRE_ENV = "INFILL_REQUIRE_QUANTIZATION"
HEAVY = ("torch", "transformers", "tokenizers", "gguf")


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def need(*modules: str) -> None:
    """Skip (or, with INFILL_REQUIRE_QUANTIZATION=1, fail) unless ``modules`` import."""
    missing = [m for m in modules if not _importable(m)]
    if not missing:
        return
    reason = (
        f"needs {', '.join(missing)} (the quantization extra: pip install -e '.[quantization]')"
    )
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason}; {REQUIRE_ENV}=1 requires it", pytrace=False)
    pytest.skip(reason)
