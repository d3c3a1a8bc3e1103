"""The acceptance replay's simulated user (benchmarks/b_acceptance.py): what it accepts."""

from __future__ import annotations

import pytest

from benchmarks.b_acceptance import (
    Accept,
    Tally,
    compare,
    damage,
    lines_site,
    next_line,
    next_word,
    plan,
)


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("return x", "return"),
        (" x + 1", " "),  # the blank before the next word
        ("(a, b)", "("),  # what comes before the first word
        ("    return", "    "),
        ("foo.bar", "foo"),
        ("1.5 + x", "1.5"),
        ("))", "))"),  # no word: all of it
        ("", ""),
    ],
)
def test_next_word_cuts_like_vs_code(text, word):
    assert next_word(text) == word


def test_next_line_cuts_like_neovims_accept_line():
    assert next_line("a = 1\nb = 2") == "a = 1"
    assert next_line("\n    b = 2\nc") == "\n    b = 2"  # a leading newline goes with its line
    assert next_line("a = 1") is None  # no newline: the key accepts all of it
    assert next_line("\nb") is None


def test_full_accept_when_what_follows_starts_with_the_suggestion():
    assert plan("x + 1)", "x + 1)\n    return y") == [("full", 6)]
    assert plan("", "abc") == []


def test_trailing_blanks_that_do_not_follow_are_not_a_full_accept():
    # B2 counts "foo()" as saved; an editor's full accept would insert the newline too
    assert plan("foo()\n", "foo()") == [("line", 5)]


def test_partial_accept_takes_lines_then_words_while_they_match():
    steps = plan("a = 1\nb = f(x)", "a = 1\nb = f(y)")
    # "a = 1", then words: "\n", "b", " ", "= ", "f", "(" (the next line differs at "x")
    assert steps == [("line", 5)] + [("word", n) for n in (1, 1, 1, 2, 1, 1)]


def test_partial_accept_of_a_single_line():
    assert plan("return x + 1", "return y") == [("word", 6), ("word", 1)]


def test_partial_accept_needs_three_characters_not_only_blanks():
    assert plan("if x:", "if y:") == [("word", 2), ("word", 1)]  # "if " is 3
    assert plan("x + 1", "x - 1") == []  # "x " is 2
    assert plan("    return x", "    pass") == []  # blanks only
    assert plan("(a)", "(b)") == []


def test_lines_site_covers_whole_lines(tmp_path):
    path = tmp_path / "m.py"
    path.write_text("def f():\n    a = 1\n    return a\n\nx = f()\n", encoding="utf-8")
    site = lines_site(path, 2, 2)
    document, cursor, target = site.load()
    assert target == "    a = 1\n    return a"
    assert document == "def f():\n\n\nx = f()\n"
    assert cursor == len("def f():\n")
    with pytest.raises(SystemExit):
        lines_site(path, 99, 1)


def test_damage_takes_the_longest_text_accepted_whole_at_first_sight():
    accepts = [
        Accept(1, "a", "full", 12, 0, first_show=False),  # typed into first: not this one
        Accept(1, "b", "full", 8, 40, first_show=True),
        Accept(1, "c", "word", 20, 60, first_show=True),
        Accept(1, "d", "full", 3, 90, first_show=True),  # too short
    ]
    assert damage(accepts).id == "b"
    assert damage(accepts[2:]) is None


def test_tally_expects_the_servers_outcome_rule():
    tally = Tally()
    tally.shown |= {"a", "b", "c"}
    tally.accepts = [
        Accept(1, "a", "word", 4, 0, True, counted=True),
        Accept(1, "a", "full", 6, 4, False, counted=True),  # partial then full: accepted
        Accept(1, "b", "line", 5, 20, True, counted=True),
        Accept(1, "b", "word", 2, 25, False, counted=False),
    ]
    tally.damaged = [(tally.accepts[1], 3)]
    assert tally.expected() == {
        "shown": 3,
        "accepted": 1,
        "partial": 1,
        "charsAccepted": 17,
        "charsKeptSave": 14,
        "commandsSent": 4,
        "commandsCounted": 3,
    }


def test_compare_names_the_fields_that_disagree():
    rows = {"store": {"shown": 3, "accepted": 1}, "status": {"shown": 3, "accepted": 2}}
    assert compare(rows, ("shown", "accepted")) == ["accepted: store 1, status 2"]
    assert compare(rows, ("shown", "missing")) == []
