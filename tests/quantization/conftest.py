"""Fixtures of the quantization toolkit's tests (tiny random models built once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.quantization.deps import HEAVY, need


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory):
    """GPTBigCode (MQA) and Starcoder2 in every type, plus GPTBigCode MHA in F32/F16."""
    need(*HEAVY)
    from quantization.pipeline import ALL_TYPES, build_tiny

    workdir: Path = tmp_path_factory.mktemp("quantization")
    models = build_tiny(workdir, ("gptbigcode", "starcoder2"), ALL_TYPES)
    models += build_tiny(workdir, ("gptbigcode-mha",), ("F32", "F16"))
    return {m.kind: m for m in models}


@pytest.fixture(scope="session")
def parity_report(tiny_models):
    from quantization.pipeline import run_parity

    return run_parity(list(tiny_models.values()))
