"""B6's pure parts, no model: episode selection (seeded, code lines inside functions, the kinds),
the "chars right" metric, and the replay's edits through a fake driver (documents restored)."""

from __future__ import annotations

import ast
import textwrap

import pytest

from benchmarks import b6_navigation as b6
from benchmarks.b6_navigation import (
    FAR,
    KINDS,
    Answer,
    chars_right,
    code_lines,
    cursor_columns,
    replay,
    select_episodes,
    whole_line_right,
)
from benchmarks.lsp_client import apply_edits, offset_of, utf16_position

SAMPLE = textwrap.dedent(
    '''\
    """Module docstring that is long enough to be a candidate if we were careless."""
    import os

    CONSTANT_VALUE = os.path.join("a", "b")  # module level: not inside a function


    def first(value):
        """A docstring line long enough.

        another docstring line, long enough too
        """
        # a comment line that is long enough
        result = value * 2 + 1
        text = """a multi-line string
        whose lines are long enough"""
        if result > 10 and value:
            return result - 1
        x = 1
        return os.path.basename(text)


    class Holder:
        attribute_name = "class level, not a function"

        def method(self, items):
            total = sum(item.size for item in items)
            for item in items:
                self.seen.append(item.name)
            return total
    '''
)


def _lines_with(text: str, needle: str) -> int:
    return next(i for i, row in enumerate(text.split("\n")) if needle in row)


def test_code_lines_are_statements_inside_functions_only():
    found = code_lines(SAMPLE)
    rows = SAMPLE.split("\n")
    picked = {rows[i].strip() for i in found}
    assert picked == {
        "result = value * 2 + 1",
        "if result > 10 and value:",
        "return result - 1",
        "return os.path.basename(text)",
        "total = sum(item.size for item in items)",
        "for item in items:",
        "self.seen.append(item.name)",
        "return total",  # 12 characters: just long enough
    }
    # left out: module and class level, docstrings, comments, multi-line strings, short lines
    for needle in (
        "CONSTANT_VALUE",
        "docstring",
        "a comment",
        "multi-line",
        "x = 1",
    ):
        assert _lines_with(SAMPLE, needle) not in found


def test_cursor_columns_land_at_code_start_or_after_a_separator_with_enough_left():
    row = "        self.seen.append(item.name)"
    columns = cursor_columns(row, min_rest=10)
    assert columns[0] == 8  # the start of the code
    for column in columns:
        assert column == 8 or row[column - 1] in b6.LANDING_AFTER
        assert row[column] != " "
        assert len(row.rstrip()) - column >= 10
    assert cursor_columns("    x = 1", min_rest=10) == []


def _module(functions: int, body: int = 12) -> str:
    """A long synthetic module: ``functions`` functions of ``body`` code lines."""
    parts = []
    for f in range(functions):
        parts.append(f"def function_{f}(argument):")
        parts.append(f'    """Docstring of function {f}."""')
        for i in range(body):
            parts.append(f"    value_{i} = compute(argument, {f}, {i}) + offset_{i}")
        parts.append("    return value_0")
        parts.append("")
    return "\n".join(parts) + "\n"


@pytest.fixture
def corpus() -> tuple[dict[str, str], list[str], list[str]]:
    files = ["one.py", "two.py", "three.py"]
    new = ["four.py", "five.py"]
    texts = {name: _module(40 + 5 * i) for i, name in enumerate(files + new)}
    return texts, files, new


def test_episodes_are_seeded_and_deterministic(corpus):
    texts, files, new = corpus
    first = select_episodes(texts, files, new, 12, seed=3)
    assert first == select_episodes(texts, files, new, 12, seed=3)
    assert first != select_episodes(texts, files, new, 12, seed=4)


def test_episodes_kinds_targets_and_deletions(corpus):
    texts, files, new = corpus
    episodes = select_episodes(texts, files, new, 12, seed=0, keys=6)
    start, jumps = episodes[0], episodes[1:]
    assert start.kind == "start" and start.path == files[0] and start.typed == ""
    assert len(jumps) == 12
    assert sorted(e.kind for e in jumps) == sorted(KINDS * 4)
    opened = list(files)
    previous = start
    for ep in jumps:
        rows = texts[ep.path].split("\n")
        assert ep.line in code_lines(texts[ep.path])
        assert rows[ep.line][ep.column :] == ep.deleted
        assert ep.typed == ep.deleted[:6] and len(ep.deleted) >= 10
        tree = ast.parse(texts[ep.path])
        assert any(
            isinstance(fn, ast.FunctionDef) and fn.body[0].lineno <= ep.line + 1 <= fn.end_lineno
            for fn in ast.walk(tree)
        )
        if ep.kind == "same":
            assert ep.path == previous.path and abs(ep.line - previous.line) >= FAR
        elif ep.kind == "other":
            assert ep.path != previous.path and ep.path in opened and not ep.open_new
        else:
            assert ep.open_new and ep.path in new
            opened.append(ep.path)
        previous = ep
    news = [ep.path for ep in jumps if ep.kind == "new"]
    assert news == [new[i % len(new)] for i in range(len(news))]  # taken in turn


def test_chars_right_is_the_common_prefix_of_the_first_line():
    deleted = "self.seen.append(item.name)"
    assert chars_right("self.seen.append(item.name)", deleted) == len(deleted)
    assert chars_right("self.seen.add(item)", deleted) == len("self.seen.a")
    assert chars_right("self.seen.append(item.name)\n    return x", deleted) == len(deleted)
    assert chars_right("", deleted) == 0
    assert chars_right(" self", deleted) == 0  # nothing stripped
    assert chars_right("self.seen.append(item.name)  # more", deleted) == len(deleted)
    assert chars_right("self", "") == 0
    assert chars_right("ab\ncd", "abcd") == 2


def test_whole_line_right():
    deleted = "self.seen.append(item.name)"
    assert whole_line_right(deleted, deleted)
    assert whole_line_right(deleted + "  \n    more lines", deleted)
    assert not whole_line_right(deleted + " # x", deleted)
    assert not whole_line_right("self.seen", deleted)
    assert not whole_line_right("", "")


class FakeDriver:
    """Applies the LSP edits to its own copies and checks them against what is asked."""

    def __init__(self) -> None:
        self.docs: dict[str, str] = {}
        self.opens: list[str] = []
        self.signals: list[tuple[str, int]] = []
        self.asked = 0

    def open(self, path: str, text: str) -> None:
        self.opens.append(path)
        self.docs[path] = text

    def edit(self, path: str, before: str, start: int, end: int, new: str) -> None:
        assert self.docs[path] == before
        (l0, c0), (l1, c1) = utf16_position(before, start), utf16_position(before, end)
        edit = {
            "range": {"start": {"line": l0, "character": c0}, "end": {"line": l1, "character": c1}},
            "newText": new,
        }
        self.docs[path] = apply_edits(before, [edit])

    def signal(self, path: str, text: str, cursor: int, dwell: float) -> float | None:
        self.signals.append((path, cursor))
        return 1.0

    def ask(self, path: str, text: str, cursor: int) -> Answer:
        assert self.docs[path] == text
        self.asked += 1
        row_start = text.rfind("\n", 0, cursor) + 1
        assert offset_of(text, *utf16_position(text, cursor)) == cursor
        return Answer(text[row_start:cursor][-3:], 5.0, "model", 100, 10)

    def totals(self) -> dict[str, int]:
        return {"evaluatedTokens": 10 * self.asked}

    def memory(self) -> dict[str, int]:
        return {"VmRSS": 1024}


@pytest.mark.parametrize("behaviour", ["a", "b"])
def test_replay_edits_restore_every_document(corpus, behaviour):
    texts, files, new = corpus
    episodes = select_episodes(texts, files, new, 6, seed=1)
    driver = FakeDriver()
    samples, jumps = replay("fake", behaviour, driver, texts, files, episodes, 0.0, 0.0)
    assert all(driver.docs[path] == texts[path] for path in driver.docs)
    assert len(jumps) == 7
    assert len(samples) == 1 + 6 * 7  # the start asks once, each jump after the deletion + 6 keys
    assert [s.request for s in samples if s.episode == 1] == list(range(7))
    assert all(j.evaluated == 10 * (1 if j.kind == "start" else 7) for j in jumps)
    assert (len(driver.signals) == 6) == (behaviour == "b") and (
        behaviour == "b" or not driver.signals
    )
    opened_new = [p for p in driver.opens if p in new]
    assert opened_new == [ep.path for ep in episodes if ep.open_new]
