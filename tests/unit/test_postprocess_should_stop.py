"""``should_stop``: the engine's early stop must fire as soon as, and only when, the answer is
known to be complete, and stopping there must never change what the filters make of it."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_postprocess_golden import CASES, context_of, load_case

from lsp_server.context.types import Context, Mode
from lsp_server.postprocess.pipeline import postprocess, should_stop
from tests.helpers.streaming import stop_at

CURSOR = "║"


def ctx(document: str, mode: Mode, language: str = "python") -> Context:
    prefix, suffix = document.split(CURSOR)
    return Context(prefix, suffix, language, mode)


BODY = ctx("def area(r):\n    ║\n\ndef other():\n    pass\n", Mode.MULTI_LINE)
HEADER = ctx("def area(r):║\n", Mode.MULTI_LINE)
TOP = ctx("import math\n\n║\n", Mode.MULTI_LINE)
LINE = ctx("total = sum(║)\n", Mode.SINGLE_LINE)


@pytest.mark.parametrize(
    ("generated", "expected"),
    [
        ("", False),
        ("x for x in xs", False),
        ("x for x in xs)", False),
        ("x for x in xs)\n", True),  # the first line is complete: that is the whole answer
        ("x)\n    return total", True),
        ("\n", True),  # empty first line: the answer is already known to be empty
        ("x<|im_end|>", True),
    ],
)
def test_single_line_stops_at_the_first_newline(generated: str, expected: bool) -> None:
    assert should_stop(generated, LINE) is expected


@pytest.mark.parametrize(
    ("generated", "expected"),
    [
        ("return math.pi * r * r", False),
        ("return math.pi * r * r\n", False),  # the body may go on
        ("r2 = r * r\n    return math.pi * r2\n\n", False),
        ("return math.pi * r * r\n\n\n", False),  # blank lines: the next line may be deeper
        ("return math.pi * r * r\n\nd", True),  # its first character already leaves the block
        ("return math.pi * r * r\n\n\ndef volume(r):\n", True),
        ("return math.pi * r * r\n  ", False),  # indentation alone decides nothing yet
        ("if r < 0:\n        raise ValueError(r)\n    return 0\n", False),  # deeper is fine
    ],
)
def test_multi_line_stops_when_a_line_leaves_the_block(generated: str, expected: bool) -> None:
    assert should_stop(generated, BODY) is expected


def test_after_a_header_the_body_level_is_deeper_than_the_header() -> None:
    assert should_stop("\n    return r * r\n", HEADER) is False
    assert should_stop("\n    return r * r\nprint(area(2))\n", HEADER) is True


@pytest.mark.parametrize(
    ("generated", "expected"),
    [
        ("def area(r):\n    return math.pi * r * r\n", False),
        ("def area(r):\n    return math.pi * r * r\n\n# Test cases\n", True),
        ("def area(r):\n    return math.pi * r * r\n\nprint(area(1))\n", True),
        ('def area(r):\n    return 1\n\nif __name__ == "__main__":\n', True),
        ("x = 1\n```\n", True),
        ("x = 1\ny = 2\n", False),  # plain top-level code: no block to leave, no tail
    ],
)
def test_multi_line_stops_at_chat_and_test_tails(generated: str, expected: bool) -> None:
    assert should_stop(generated, TOP) is expected


def test_multi_line_stops_on_a_line_loop() -> None:
    assert should_stop("i += 1\n    i += 1\n", BODY) is False
    assert should_stop("i += 1\n    i += 1\n    i += 1\n", BODY) is True


def test_special_token_stops_any_mode() -> None:
    assert should_stop("return r<|endoftext|>", BODY) is True
    assert should_stop("return r<|fim_pad|>", LINE) is True


def test_brace_language_body_and_closing_brace() -> None:
    fn = ctx("function f(a) {║\n", Mode.MULTI_LINE, "javascript")
    assert should_stop("\n  const b = a + 1;\n  return b;\n", fn) is False
    assert should_stop("\n  return a;\n}", fn) is False  # may grow into `});`: wait for it
    assert should_stop("\n  return a;\n}\n", fn) is True


@pytest.mark.parametrize(
    "path",
    [p for p in CASES if load_case(p)["scope"] == "pipeline"],
    ids=lambda p: f"{p.parent.name}/{p.stem}",
)
def test_stopping_early_never_changes_the_final_answer(path: Path) -> None:
    """Streaming the golden answers character by character: the early stop loses nothing."""
    case = load_case(path)
    context = context_of(case)
    stopped = stop_at(should_stop, case["raw"], context)
    assert postprocess(stopped, context) == postprocess(case["raw"], context)


@pytest.mark.parametrize(
    "context", [LINE, BODY, HEADER, TOP], ids=["line", "body", "header", "top"]
)
def test_stop_texts_are_where_should_stop_fires(context: Context) -> None:
    """The texts an engine is told to stop at itself end the answer exactly where the streamed
    stop would: each fires wherever it appears, and cutting there changes nothing."""
    from lsp_server.postprocess.pipeline import stop_texts

    texts = stop_texts(context)
    assert texts == (("\n",) if context.mode is Mode.SINGLE_LINE else ())
    for text in texts:
        for answer in ("x)", "", "  y = 1"):
            assert should_stop(answer + text + "tail", context)
            assert postprocess(answer + text + "tail", context) == postprocess(answer, context)
