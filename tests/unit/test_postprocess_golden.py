"""Golden cases for the post-processing filters, one TOML file per case.

See tests/golden/postprocess/README.md for the format. Each case runs either one filter or the
whole pipeline on a real-looking model answer and compares the text that would be inserted.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from lsp_server.context.types import Context, Mode
from lsp_server.postprocess.pipeline import FILTERS, filter_name, postprocess

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 needs the tomli backport
    tomllib = pytest.importorskip("tomli")

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "postprocess"
CURSOR = "║"
CASES = sorted(GOLDEN.glob("*/*.toml"))
BY_NAME = {filter_name(fn): fn for fn in FILTERS}
FIELDS = {"description", "language", "mode", "scope", "document", "raw", "expected"}


def load_case(path: Path) -> dict[str, Any]:
    with path.open("rb") as fh:
        return tomllib.load(fh)


def context_of(case: dict[str, Any]) -> Context:
    prefix, suffix = case["document"].split(CURSOR)
    return Context(prefix, suffix, case["language"], Mode(case["mode"]))


def run_case(path: Path, case: dict[str, Any]) -> str:
    ctx = context_of(case)
    if case["scope"] == "filter":
        return BY_NAME[path.parent.name](case["raw"], ctx)
    return postprocess(case["raw"], ctx)


@pytest.mark.parametrize("path", CASES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_golden_case(path: Path) -> None:
    case = load_case(path)
    assert set(case) == FIELDS, f"{path.name}: fields {sorted(set(case) ^ FIELDS)}"
    assert case["document"].count(CURSOR) == 1, "exactly one cursor marker"
    assert case["scope"] in ("filter", "pipeline")
    assert run_case(path, case) == case["expected"], case["description"]


def test_every_filter_has_golden_cases() -> None:
    """Each filter: 4+ cases, at least one where the filter alone must leave the text as is."""
    folders = {p.name for p in GOLDEN.iterdir() if p.is_dir()}
    assert folders == set(BY_NAME), "one folder per filter in the pipeline, and no others"
    for name in BY_NAME:
        cases = [load_case(p) for p in (GOLDEN / name).glob("*.toml")]
        assert len(cases) >= 4, name
        untouched = [c for c in cases if c["scope"] == "filter" and c["raw"] == c["expected"]]
        assert untouched, f"{name} needs a case it must leave untouched"


def test_golden_cases_span_language_families() -> None:
    languages = {load_case(p)["language"] for p in CASES}
    assert "python" in languages
    assert languages & {"javascript", "typescript", "tsx"}
    assert languages & {"go", "rust", "c", "cpp"}
