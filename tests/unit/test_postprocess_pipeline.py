"""The pipeline's plumbing and the helpers the filters share."""

from __future__ import annotations

import logging

import pytest

from lsp_server.context.types import Context, Mode
from lsp_server.postprocess import _lines, pipeline, syntax_check
from lsp_server.postprocess.pipeline import FILTERS, filter_name, postprocess
from lsp_server.syntax.tree import syntax_errors


def test_filter_order() -> None:
    assert [filter_name(fn) for fn in FILTERS] == [
        "chat_tail",
        "placeholder",
        "single_line",
        "trim_space",
        "indentation",
        "block_scope",
        "repetition",
        "trailing_comment",
        "suffix_overlap",
        "suffix_repeat",
        "dead_suffix",
        "empty",
        "syntax_check",
    ]


def test_pipeline_stops_at_the_first_empty_result(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def make(name: str, result: str) -> pipeline.Filter:
        def apply(text: str, ctx: Context) -> str:
            calls.append(name)
            return result

        return apply

    monkeypatch.setattr(pipeline, "FILTERS", [make("a", "x"), make("b", ""), make("c", "y")])
    assert postprocess("raw", Context("", "", "python")) == ""
    assert calls == ["a", "b"]


def test_a_failing_filter_costs_the_suggestion_not_the_server(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(text: str, ctx: Context) -> str:
        raise IndexError("bug")

    monkeypatch.setattr(pipeline, "FILTERS", [broken])
    with caplog.at_level(logging.ERROR):
        assert postprocess("x = 1", Context("", "", "python")) == ""
    assert "suggestion dropped" in caplog.text


def test_crlf_answers_are_normalised() -> None:
    ctx = Context("def f():\n    ", "\n", "python", Mode.MULTI_LINE)
    assert postprocess("x = 1\r\n    return x\r\n\r\n", ctx) == "x = 1\n    return x"


def test_single_line_answer_has_no_trailing_whitespace() -> None:
    ctx = Context("x = ", "\n", "python", Mode.SINGLE_LINE)
    assert postprocess("compute()  \n", ctx) == "compute()"


@pytest.mark.parametrize(
    ("line", "width"),
    [("", 0), ("x", 0), ("    x", 4), ("\tx", 4), ("  \tx", 4), ("\t\tx", 8), ("     ", 5)],
)
def test_indent_width_expands_tabs(line: str, width: int) -> None:
    assert _lines.indent_width(line) == width


@pytest.mark.parametrize(
    ("text", "language", "net"),
    [
        ("foo(a, [b])", "python", 0),
        ("foo(')', \"(\")  # )", "python", 1 - 1),
        ("f(a, ", "javascript", 1),
        ("s = `}`; }", "typescript", -1),
        ("fn f<'a>(x: &'a str) {", "rust", 1),  # lifetimes are not char literals
        ("if c == '}' {", "go", 1),
        ("x = 1 // )", "c", 0),
    ],
)
def test_bracket_net_ignores_strings_and_comments(text: str, language: str, net: int) -> None:
    assert _lines.bracket_net(text, language) == net


def test_closing_lines() -> None:
    assert _lines.is_closing_line("  }")
    assert _lines.is_closing_line("});")
    assert _lines.is_closing_line("],")
    assert not _lines.is_closing_line("} else {")
    assert not _lines.is_closing_line("return x;")


def test_drop_trailing_blank_lines_keeps_a_leading_newline() -> None:
    assert _lines.drop_trailing_blank_lines("\n    return x\n  \n\n") == "\n    return x"
    assert _lines.drop_trailing_blank_lines(" \n \n") == ""


def test_suffix_line_lookups_skip_blank_lines() -> None:
    assert _lines.next_nonblank_suffix_line("rest)\n\n  \n    return y\n") == "    return y"
    assert _lines.next_nonblank_suffix_line("only the cursor line") is None
    assert _lines.last_nonblank_line("a = 1\n    b = 2\n\n   \n") == "    b = 2"
    assert _lines.last_nonblank_line("\n \n") is None


@pytest.mark.parametrize(
    ("language", "prefix", "answer", "suffix"),
    [
        ("python", "# café ünïcode\ndef f(x):\n    y = 'é'  # ", "ok\n    return (y", "\n"),
        ("python", "def f(x):\n    ", "if x:\n        return 1\n    return 2", "\n\nf(1)\n"),
        ("javascript", "function f() {\n  ", "return 1;\n}\n}", "\n}\n"),
        ("go", "package main\n\nfunc f() {\n\tx := ", "compute()", "\n}\n"),
        ("rust", 'fn main() {\n    let s = "ß"; ', "let t = s.len(", "\n}\n"),
    ],
)
def test_incremental_reparse_counts_like_a_fresh_parse(
    language: str, prefix: str, answer: str, suffix: str
) -> None:
    """syntax_check inserts the answer as a tree edit; it must judge like a full parse would."""
    parser = syntax_check.make_parser(language)
    assert parser is not None
    window = syntax_check._Window(parser, prefix, suffix)
    assert window.errors == syntax_errors(language, prefix + suffix)
    assert window.errors_with(answer) == syntax_errors(language, prefix + answer + suffix)
