"""Each filter module declares its own rules (``FILTER``); the pipeline's ``WRONG_START`` and
``should_stop`` must be built from those declarations, not from copies that can drift."""

from __future__ import annotations

import importlib.util
import pkgutil
import sys
from pathlib import Path

import pytest
from test_postprocess_golden import GOLDEN, context_of, load_case

from lsp_server import postprocess
from lsp_server.context.types import Context, Mode
from lsp_server.postprocess import block_scope, chat_tail, repetition, single_line
from lsp_server.postprocess._filter import Filter, StopRule
from lsp_server.postprocess.pipeline import FILTERS, STOP_RULES, WRONG_START, should_stop
from tests.helpers.streaming import stop_at

CURSOR = "║"


def ctx(document: str, mode: Mode = Mode.MULTI_LINE) -> Context:
    prefix, suffix = document.split(CURSOR)
    return Context(prefix, suffix, "python", mode)


BODY = ctx("def area(r):\n    ║\n\ndef other():\n    pass\n")
TOP = ctx("import math\n\n║\n")
LINE = ctx("total = sum(║)\n", Mode.SINGLE_LINE)


def test_wrong_start_is_the_set_completion_re_decodes_for() -> None:
    """Today's set, pinned: a filter dropping out of it would silently switch re-decoding off."""
    assert set(WRONG_START) == {
        "placeholder",
        "suffix_repeat",
        "dead_suffix",
        "syntax_check",
        "chat_tail",
        "block_scope",
    }


def test_a_filter_is_named_by_its_module(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each ``FILTER`` is its own module's, and a renamed module keeps its rules under the new
    name (loaded here as ``scope_limit``): no hand-typed name list to update."""
    for f in FILTERS:
        module = sys.modules[f"lsp_server.postprocess.{f.name}"]
        assert module.FILTER is f
    name = "lsp_server.postprocess.scope_limit"
    spec = importlib.util.spec_from_file_location(name, block_scope.__file__)
    assert spec is not None and spec.loader is not None
    renamed = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, renamed)
    spec.loader.exec_module(renamed)
    assert renamed.FILTER.name == "scope_limit"
    assert renamed.FILTER.wrong_start and renamed.FILTER.stop is renamed.stop


def test_every_filter_declares_its_rules_and_has_golden_cases() -> None:
    for f in FILTERS:
        assert isinstance(f, Filter), f
        assert isinstance(f.wrong_start, bool), f.name
        assert (GOLDEN / f.name).is_dir(), f"no golden cases for {f.name}"
    with pytest.raises(TypeError):
        Filter(single_line.apply)  # type: ignore[call-arg]  # wrong_start has no default


def test_every_filter_module_is_in_the_pipeline() -> None:
    """A filter module left out of FILTERS would silently never run."""
    modules = {
        info.name
        for info in pkgutil.iter_modules(postprocess.__path__)
        if not info.name.startswith("_") and info.name != "pipeline"
    }
    assert modules == {f.name for f in FILTERS}


def test_the_stop_rules_are_the_filters_own() -> None:
    with_stop = {f.name for f in FILTERS if f.stop is not None}
    assert with_stop == {"chat_tail", "single_line", "block_scope", "repetition"}
    assert (chat_tail.stop, single_line.stop, block_scope.stop, repetition.stop) == STOP_RULES


@pytest.mark.parametrize(
    ("stop", "generated", "context"),
    [
        (chat_tail.stop, "x = 1<|im_end|>", BODY),
        (chat_tail.stop, "x = 1\n\n# Test cases\n", TOP),
        (single_line.stop, "x)\n", LINE),
        (block_scope.stop, "return r\n\nd", BODY),
        (repetition.stop, "i += 1\n    i += 1\n    i += 1\n", BODY),
    ],
)
def test_each_stop_rule_fires_on_its_own_cut(
    stop: StopRule, generated: str, context: Context
) -> None:
    assert stop(generated, context)
    others = [rule for rule in STOP_RULES if rule is not stop]
    assert not any(rule(generated, context) for rule in others)
    assert should_stop(generated, context)


def test_no_stop_rule_fires_on_nothing() -> None:
    for context in (BODY, TOP, LINE):
        assert not should_stop("", context)


def test_should_stop_reads_repetitions_own_run_length(monkeypatch: pytest.MonkeyPatch) -> None:
    three = "i += 1\n    i += 1\n    i += 1\n"
    assert should_stop(three, BODY)
    monkeypatch.setattr(repetition, "MIN_LINE_RUN", 4)
    assert not should_stop(three, BODY)
    assert should_stop(three + "    i += 1\n", BODY)
    assert repetition.apply(three, BODY) == three  # the filter agrees: 3 copies are no loop now


@pytest.mark.parametrize(
    "path",
    [p for f in FILTERS if f.stop is not None for p in sorted((GOLDEN / f.name).glob("*.toml"))],
    ids=lambda p: f"{p.parent.name}/{p.stem}",
)
def test_a_stop_rule_never_changes_what_its_filter_makes(path: Path) -> None:
    """Streaming a filter's golden answers: stopping at its rule loses nothing of its own cut."""
    case = load_case(path)
    f = next(f for f in FILTERS if f.name == path.parent.name)
    assert f.stop is not None
    context = context_of(case)
    raw = case["raw"]
    assert f(stop_at(f.stop, raw, context), context) == f(raw, context)
