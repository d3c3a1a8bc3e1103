"""The fix pipeline's decisions with a scripted engine (unit only: it injects model answers the
real model would rarely give — unparseable, renamed — to pin down rejection and retry). The real
model's part is covered end to end in tests/e2e/test_fix.py."""

from __future__ import annotations

import sys

from lsp_server.engine.base import CancelToken, Generation, GenerationRequest
from lsp_server.fix.edits import apply_hunks
from lsp_server.fix.fixer import Fixer
from lsp_server.fix.function import find_function
from lsp_server.prompt.chat import FixRequest
from lsp_server.prompt.fim import FimDialect
from lsp_server.settings import Settings
from tests.helpers.fix_cases import TOTAL

DOC = TOTAL + "\n\nprint(total([1]))\n"
BODY = "    for n in numbers:\n        result += n\n    return result\n```"
GOOD = "def total(numbers):\n    result = 0\n" + BODY
BROKEN = "def total(numbers):\n    result = (0\n    return result\n```"
RENAMED = "def sum_all(numbers):\n    return sum(numbers)\n```"
SAME = "def total(numbers):\n    result = 1\n" + BODY


class ScriptedEngine:
    """Answers the chat prompts from a list, in order; tokens are characters."""

    name = "scripted"
    n_ctx = 8192
    dialect = FimDialect("test", 1, 2, 3, frozenset({0}))
    bos_id = eos_id = None
    chat_template = None

    def __init__(self, answers: list[str], fim_answers: list[str] = ()) -> None:
        self.answers = list(answers)
        self.fim_answers = list(fim_answers)
        self.fim_prompts = 0
        self.prompts: list[str] = []
        self.temperatures: list[float] = []

    def tokenize(self, text: str, special: bool = False) -> list[int]:
        return [ord(c) for c in text]

    def detokenize(self, ids: list[int]) -> str:
        return "".join(chr(i) for i in ids)

    def special_text(self, token_id: int | None) -> str:
        return ""

    def generate(self, request: GenerationRequest, cancel: CancelToken) -> Generation:
        if request.prompt[:1] == [self.dialect.prefix_id]:  # a FIM line rewrite (fix.infill)
            self.fim_prompts += 1
            text = self.fim_answers.pop(0) if self.fim_answers else ""
            return Generation(text, [], len(request.prompt), 0, len(text), 0, 0, "stop")
        self.prompts.append(self.detokenize(request.prompt))
        self.temperatures.append(request.temperature)
        text = self.answers.pop(0)
        return Generation(text, [], len(request.prompt), 0, len(text), 0, 0, "stop")


def run(answers: list[str], **settings):
    engine = ScriptedEngine(answers)
    fixer = Fixer(engine, Settings(fix_python=sys.executable, **settings))
    function = find_function(DOC, "python", DOC.index("result = 1"))
    request = FixRequest("python", function.text, function.name, context=function.context)
    return engine, function, fixer.fix(DOC, function, request, CancelToken())


def test_failing_examples_are_evidence_and_the_verified_fix_is_a_minimal_edit():
    engine, _function, outcome = run([GOOD])
    assert "called total([1, 2, 3]) -> got 7, expected 6" in engine.prompts[0]
    assert "called total([]) -> got 1, expected 0" in engine.prompts[0]
    assert outcome.checks == 2 and outcome.baseline_passed == 0 and outcome.passed == 2
    assert outcome.verified and "passes 2/2 docstring examples" in outcome.message
    assert [(h.start_line, h.end_line) for h in outcome.hunks] == [(8, 9)]
    assert apply_hunks(DOC, outcome.hunks) == DOC.replace("result = 1", "result = 0")


def test_unparseable_answer_is_rejected_and_retried_with_a_stricter_greedy_prompt():
    engine, _, outcome = run([BROKEN, GOOD])
    assert outcome.verified and outcome.attempts == 2
    assert "rejected: the answer does not parse" in engine.prompts[1]
    assert engine.temperatures == [0.0, 0.0]


def test_every_answer_rejected_gives_no_edit_and_says_why():
    _, _, outcome = run([RENAMED, BROKEN], fix_run_examples=False)
    assert not outcome.changed and outcome.hunks == []
    assert outcome.message == "no fix: the model's answer was rejected (the answer does not parse)"


def test_unchanged_answer_with_failing_examples_samples_more_candidates():
    engine, _, outcome = run([SAME, SAME, GOOD])
    assert outcome.verified and outcome.attempts == 3
    assert engine.temperatures[0] == 0.0 and engine.temperatures[1] > 0


def test_without_evidence_an_unchanged_answer_is_no_change():
    _, _, outcome = run([SAME], fix_run_examples=False)
    assert not outcome.changed and outcome.message == "no change proposed for `total`"


def test_when_no_candidate_does_better_than_the_function_no_fix_is_offered_and_it_says_so():
    wrong = "def total(numbers):\n    return 7\n```"
    engine, _, outcome = run([wrong] * 4)
    assert not outcome.changed and outcome.attempts == 4
    assert outcome.message == (
        "no fix found for `total`: no candidate passes more of its 2 docstring examples than "
        "the function as it is (0/2)"
    )
    assert engine.fim_prompts == 4  # every statement line of the body was rewritten once


def test_a_one_line_fim_rewrite_that_passes_the_examples_wins():
    engine = ScriptedEngine([], fim_answers=["result = 0"])
    fixer = Fixer(engine, Settings(fix_python=sys.executable))
    function = find_function(DOC, "python", DOC.index("result = 1"))
    request = FixRequest("python", function.text, function.name)
    outcome = fixer.fix(DOC, function, request, CancelToken())
    assert outcome.verified and outcome.attempts == 0 and engine.fim_prompts == 1  # no chat
    assert apply_hunks(DOC, outcome.hunks) == DOC.replace("result = 1", "result = 0")


def test_candidate_worse_than_the_original_is_not_offered():
    doc = DOC.replace("result = 1", "result = 0").replace("[1, 2, 3])\n    6", "[1, 2, 3])\n    7")
    worse = "def total(numbers):\n    return 6\n```"
    engine = ScriptedEngine([worse] * 4)
    fixer = Fixer(engine, Settings(fix_python=sys.executable))
    function = find_function(doc, "python", doc.index("result = 0"))
    request = FixRequest("python", function.text, function.name)
    outcome = fixer.fix(doc, function, request, CancelToken())
    assert outcome.baseline_passed == 1 and not outcome.changed
    assert outcome.message.endswith("than the function as it is (1/2)")


def test_examples_that_all_pass_do_not_drive_line_rewrites():
    doc = DOC.replace("result = 1", "result = 0")  # correct: both examples pass
    engine = ScriptedEngine([GOOD.replace("result = 0", "result = 0  # start")])
    fixer = Fixer(engine, Settings(fix_python=sys.executable))
    function = find_function(doc, "python", doc.index("result = 0"))
    request = FixRequest("python", function.text, function.name)
    outcome = fixer.fix(doc, function, request, CancelToken())
    assert engine.fim_prompts == 0 and outcome.baseline_passed == 2
    assert outcome.message.endswith(
        "still passes its 2 docstring examples (they do not show the bug)"
    )
