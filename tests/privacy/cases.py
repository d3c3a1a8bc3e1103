"""The redaction corpus: ``corpus/positives/*.txt`` and ``corpus/negatives/*.txt``.

Each file holds cases in this format::

    === case-id
    expect KIND: value
    expect KIND: "a JSON string, for values with newlines or edge spaces"
    known: why the redactor gets this case wrong today (optional)
    ---
    the text, up to the next "=== " line or the end of the file

A positive lists every finding it must produce (a value found twice is listed twice); a
negative lists none: its text must come back unchanged. A ``known:`` case states the truth
the redactor misses (a documented limitation): the tests expect it to fail (strict xfail), the
benchmark counts it like any other case. Blank lines before the next case are
not part of the text; the text ends with one newline.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

CORPUS = Path(__file__).resolve().parent / "corpus"
_EXPECT = re.compile(r"expect (?P<kind>[A-Z_]+): (?P<value>.+)")


@dataclass(frozen=True)
class Case:
    id: str
    text: str
    expect: tuple[tuple[str, str], ...]  # (kind, value) in order of appearance
    positive: bool
    known: str | None = None  # a documented limitation: the redactor gets this case wrong

    def expected_spans(self) -> list[tuple[str, int, int]]:
        """(kind, start, end) of each expected value: successive occurrences in the text."""
        spans = []
        next_from: dict[str, int] = {}
        for kind, value in self.expect:
            start = self.text.find(value, next_from.get(value, 0))
            if start < 0:
                raise ValueError(f"{self.id}: expected value not in the text: {value!r}")
            next_from[value] = start + len(value)
            spans.append((kind, start, start + len(value)))
        return sorted(spans, key=lambda s: s[1])


def _parse(path: Path, positive: bool) -> list[Case]:
    cases: list[Case] = []
    blocks = re.split(r"^=== ", path.read_text(encoding="utf-8"), flags=re.M)
    for block in blocks[1:]:
        header, sep, body = block.partition("\n---\n")
        if not sep:
            raise ValueError(f"{path.name}: case without a '---' line: {block[:40]!r}")
        head_lines = header.splitlines()
        case_id = f"{path.stem}/{head_lines[0].strip()}"
        expect = []
        known = None
        for line in head_lines[1:]:
            if line.startswith("known: "):
                known = line.removeprefix("known: ").strip()
                continue
            m = _EXPECT.fullmatch(line.rstrip("\n"))
            if not m:
                raise ValueError(f"{case_id}: bad expect line {line!r}")
            value = m.group("value")
            expect.append((m.group("kind"), json.loads(value) if value.startswith('"') else value))
        case = Case(case_id, body.rstrip("\n") + "\n", tuple(expect), positive, known)
        if positive != bool(expect):
            raise ValueError(f"{case_id}: positives list findings, negatives none")
        case.expected_spans()  # every value is in the text
        cases.append(case)
    return cases


def load_cases() -> list[Case]:
    cases = [
        case
        for folder, positive in (("positives", True), ("negatives", False))
        for path in sorted((CORPUS / folder).glob("*.txt"))
        for case in _parse(path, positive)
    ]
    ids = [c.id for c in cases]
    if len(ids) != len(set(ids)):
        raise ValueError("duplicate case ids in the corpus")
    return cases
