"""Redaction of secrets and PII: the corpus case by case, then properties of ``redact``."""

from __future__ import annotations

import dataclasses
import itertools
import re

import pytest

from lsp_server.privacy import (
    KINDS,
    PLACEHOLDER_RE,
    Finding,
    contains_placeholder,
    redact,
    redact_around_cursor,
)
from tests.privacy.cases import load_cases

CASES = load_cases()
SAMPLE = """\
import os

DATABASE_URL = "postgresql://app_user:Xk9_rT2v@db.prod.internal:5432/app"
STRIPE_KEY = "sk_live_rWi0B26R08qzjI6GKFSufrdZ"
password = "hunter2"
ADMINS = [("Ops", "ops@shop-internal.io")]
HOST = "52.14.88.201"


def connect(password=os.environ["PASSWORD"]):
    return db.connect(password=password)
"""


def _case_params() -> list:
    return [
        pytest.param(
            case,
            id=case.id,
            marks=[pytest.mark.xfail(reason=case.known, strict=True)] if case.known else [],
        )
        for case in CASES
    ]


def test_corpus_size():
    positives = [c for c in CASES if c.positive]
    negatives = [c for c in CASES if not c.positive]
    assert len(positives) >= 80 and len(negatives) >= 80
    kinds = {kind for c in positives if not c.known for kind, _ in c.expect}
    assert kinds == set(KINDS)


@pytest.mark.parametrize("case", _case_params())
def test_corpus_case(case):
    result = redact(case.text)
    found = [(f.kind, case.text[f.start : f.end]) for f in result.findings]
    expected = [(kind, case.text[s:e]) for kind, s, e in case.expected_spans()]
    assert found == expected
    if not case.positive:
        assert result.text == case.text


@pytest.mark.parametrize(
    "case", [pytest.param(c, id=c.id) for c in CASES if c.positive and not c.known]
)
def test_corpus_redacted_text_has_no_secret(case):
    result = redact(case.text)
    for kind, value in case.expect:
        assert value not in result.text, kind
    for placeholder, kind in result.placeholders.items():
        assert re.fullmatch(rf"<{kind}_\d+>", placeholder)
        assert placeholder in result.text


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CASES])
def test_idempotent(case):
    once = redact(case.text)
    twice = redact(once.text)
    assert twice.text == once.text
    assert twice.findings == []


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CASES])
def test_findings_sorted_disjoint_and_text_rebuilt(case):
    result = redact(case.text)
    spans = [(f.start, f.end) for f in result.findings]
    assert spans == sorted(spans)
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in itertools.pairwise(spans))
    assert all(f.kind in KINDS and 0 <= f.start < f.end <= len(case.text) for f in result.findings)
    # Splicing the placeholders into the original's gaps gives the redacted text back.
    placeholders = PLACEHOLDER_RE.findall(result.text)
    assert len(placeholders) == len(result.findings)
    rebuilt, pos = [], 0
    for finding, placeholder in zip(result.findings, placeholders, strict=True):
        rebuilt += [case.text[pos : finding.start], placeholder]
        pos = finding.end
    assert "".join([*rebuilt, case.text[pos:]]) == result.text


def test_no_findings_means_unchanged_text():
    text = "def add(a, b):\n    return a + b\n"
    result = redact(text)
    assert result.text == text
    assert result.findings == [] and result.placeholders == {} and not result.changed


def test_keeps_the_shape_of_the_code():
    result = redact(SAMPLE)
    assert re.search(r'^password = "<PASSWORD_\d+>"$', result.text, re.M)
    assert re.search(r'STRIPE_KEY = "<API_KEY_\d+>"', result.text)
    assert re.search(
        r"postgresql://app_user:<PASSWORD_\d+>@db\.prod\.internal:5432/app", result.text
    )
    assert 'password=os.environ["PASSWORD"]' in result.text  # a reference, not a secret
    assert [f.kind for f in result.findings] == [
        "PASSWORD",
        "API_KEY",
        "PASSWORD",
        "EMAIL",
        "IP_ADDRESS",
    ]


def test_placeholders_stable_within_and_across_calls():
    text = 'a = "sk_live_rWi0B26R08qzjI6GKFSufrdZ"\nb = "sk_live_rWi0B26R08qzjI6GKFSufrdZ"\n'
    first = redact(text)
    assert len(first.placeholders) == 1
    (placeholder,) = first.placeholders
    assert first.text.count(placeholder) == 2
    again = redact('key = "sk_live_rWi0B26R08qzjI6GKFSufrdZ"')
    assert list(again.placeholders) == [placeholder]
    other = redact('key = "sk_live_SlB5er8bOfZqfM2oeq3hDavJ"')
    assert list(other.placeholders) != [placeholder]


def test_distinct_values_get_distinct_numbers():
    result = redact("to: bob.smith@acme-corp.com, cc: eve.jones@acme-corp.com\n")
    assert len(result.placeholders) == 2
    assert set(result.placeholders.values()) == {"EMAIL"}


def test_placeholders_in_a_completion():
    result = redact(SAMPLE)
    password = next(p for p, kind in result.placeholders.items() if kind == "PASSWORD")
    assert result.placeholders_in(f'    pw = "{password}"\n') == [password]
    assert result.placeholders_in("    return None\n") == []
    assert contains_placeholder("x = '<API_KEY_12>'")
    assert not contains_placeholder("List<String> names = new ArrayList<>();")


def test_findings_hold_no_secret_text():
    result = redact(SAMPLE)
    assert "hunter2" not in repr(result)
    assert [f.name for f in dataclasses.fields(Finding)] == ["kind", "start", "end", "rule"]
    assert Finding("EMAIL", 1, 5, "email") == Finding("EMAIL", 1, 5)  # rule: not compared


def test_around_cursor_sees_a_secret_split_by_the_cursor():
    prefix, suffix = 'password = "hun', 'ter2"\nprint(password)\n'
    before, after = redact_around_cursor(prefix, suffix)
    assert re.fullmatch(r'password = "<PASSWORD_\d+>', before.text)
    assert after.text == '"\nprint(password)\n'
    assert before.findings[0].end == len(prefix) and after.findings[0].start == 0


@pytest.mark.parametrize(
    ("pre", "suf", "mid"),
    [
        ("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"),
        ("<fim_prefix>", "<fim_suffix>", "<fim_middle>"),
        ("<PRE> ", " <SUF>", " <MID>"),
        ("<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>"),
    ],
    ids=["qwen", "starcoder", "codellama", "deepseek"],
)
def test_fim_prompt_markers_survive_and_split_secrets_are_seen(pre, suf, mid):
    prompt = f'{pre}import os\npassword = "hun{suf}ter2"\nOWNER = "bob.smith@acme-corp.com"\n{mid}'
    result = redact(prompt)
    assert all(marker in result.text for marker in (pre, suf, mid))
    assert "hun" not in result.text and "ter2" not in result.text
    assert re.search(r'password = "<PASSWORD_\d+>' + re.escape(suf) + '"\n', result.text)
    assert re.search(r'OWNER = "<EMAIL_\d+>"', result.text)
    assert [f.kind for f in result.findings] == ["PASSWORD", "PASSWORD", "EMAIL"]
    assert redact(result.text).findings == []


def test_literal_markers_are_kept():
    text = 'x = 1 @@CURSOR@@ y = "bob.smith@acme-corp.com"'
    result = redact(text, markers=["@@CURSOR@@"])
    assert "@@CURSOR@@" in result.text and "bob.smith" not in result.text


def test_around_cursor_matches_redact_when_nothing_crosses():
    prefix, suffix = SAMPLE[:100], SAMPLE[100:]
    assert len(prefix) == 100
    before, after = redact_around_cursor(prefix, suffix)
    assert before.text + after.text == redact(SAMPLE).text


def test_large_text_is_handled():
    # No timing here (the benchmark measures speed): a large input must work, findings included.
    big = (SAMPLE + "x = 1\n" * 200) * 200
    result = redact(big)
    assert len(result.findings) == 5 * 200
    assert "hunter2" not in result.text


@pytest.mark.parametrize(
    "text",
    [
        "a" * 10_000,
        "@" * 5_000,
        ":" * 5_000 + "1",
        "-----BEGIN RSA PRIVATE KEY-----" + "A" * 20_000,
        "password = " + '"' * 3_000,
        "1." * 5_000,
        "x@" + "a." * 3_000 + "com",
        "password: " + "a b " * 20_000,
        "k: " * 30_000,
        "token=" + "a&" * 30_000,
        "<|" * 10_000,
    ],
    ids=[
        "letters",
        "ats",
        "colons",
        "unterminated-key",
        "quotes",
        "dots",
        "long-domain",
        "long-yaml-line",
        "many-colons",
        "many-kv",
        "marker-like",
    ],
)
def test_pathological_inputs_terminate(text):
    assert redact(text).text  # finishes (no catastrophic backtracking) and returns text
