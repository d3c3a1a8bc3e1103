"""The completion stage's constrained re-decode, with a scripted engine (the real model's part
is covered end to end; here the decision logic is pinned down)."""

from __future__ import annotations

from lsp_server.completion import MAX_REDECODES, Completer, _complete_part
from lsp_server.context.types import Snapshot
from lsp_server.engine.base import CancelToken, Generation, GenerationRequest
from lsp_server.prompt.fim import FimDialect
from lsp_server.settings import Settings

DIALECT = FimDialect("test", 1, 2, 3, frozenset({0}))


class ScriptedEngine:
    """Answers from a script keyed by the banned first tokens; tokens are characters."""

    name = "scripted"
    forbids_tokens = True
    n_ctx = 4096
    dialect = DIALECT
    bos_id = None

    def __init__(self, answers: dict[frozenset[int], str]) -> None:
        self.answers = answers
        self.requests: list[frozenset[int]] = []

    def tokenize(self, text: str, special: bool = False) -> list[int]:
        return [ord(c) for c in text]

    def detokenize(self, ids: list[int]) -> str:
        return "".join(chr(i) for i in ids)

    def pending(self, _request: GenerationRequest) -> int:
        return 0  # no cache modelled: never a jump

    def generate(self, request: GenerationRequest, cancel: CancelToken) -> Generation:
        self.requests.append(request.banned_first)
        text = self.answers[request.banned_first]
        return Generation(
            text, self.tokenize(text), len(request.prompt), 5, len(text), 0, 0, "stop"
        )


DOC = "def area(w, h):\n    \n    return result\n"
CURSOR = DOC.index("\n    \n") + 5


def complete(engine: ScriptedEngine) -> str:
    completer = Completer(engine)
    return completer.complete(Snapshot(DOC, CURSOR, "python"), CancelToken(), Settings()).text


def test_answer_repeating_the_line_below_is_decoded_again_without_its_first_token():
    engine = ScriptedEngine({frozenset(): "return result", frozenset({ord("r")}): "result = w * h"})
    assert complete(engine) == "result = w * h"
    assert engine.requests == [frozenset(), frozenset({ord("r")})]


def test_good_first_answer_is_not_decoded_twice():
    engine = ScriptedEngine({frozenset(): "result = w * h"})
    assert complete(engine) == "result = w * h"
    assert engine.requests == [frozenset()]


def test_redecodes_are_bounded_and_end_in_no_suggestion():
    class Stubborn(ScriptedEngine):
        """Every answer starts with another token, and every one is rejected."""

        def generate(self, request, cancel):
            wrong = ["return result", "(w *", "[h *", "{w:"][len(self.requests)]
            self.answers[request.banned_first] = wrong
            return super().generate(request, cancel)

    engine = Stubborn({})
    assert complete(engine) == ""
    assert len(engine.requests) == MAX_REDECODES + 1


def test_an_engine_that_ignores_the_ban_is_not_asked_again():
    """Should an engine answer the same despite the ban, the re-decodes stop there."""
    engine = ScriptedEngine({})
    engine.answers = _Always("return result")  # type: ignore[assignment]
    assert complete(engine) == ""
    assert engine.requests == [frozenset(), frozenset({ord("r")})]


def test_a_remote_engine_is_not_asked_for_a_re_decode():
    """A remote engine samples on its side (``forbids_tokens`` False): a re-decode would cost
    a round trip for the same answer."""
    engine = ScriptedEngine({frozenset(): "return result"})
    engine.forbids_tokens = False
    assert complete(engine) == ""
    assert engine.requests == [frozenset()]


class _Always(dict):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def __getitem__(self, key: object) -> str:
        return self.text


def test_the_ban_falls_on_the_first_token_of_content_not_on_leading_whitespace():
    """B1, 0.5B: with `return` forbidden only as the very first token, the model wrote
    `\n    return x` (a newline first), and a whitespace first token ended the re-decodes."""
    engine = ScriptedEngine(
        {
            frozenset(): "\n    return result",
            frozenset({ord("r")}): "result = w * h",
        }
    )
    assert complete(engine) == "result = w * h"
    assert engine.requests == [frozenset(), frozenset({ord("r")})]


def complete_in(doc: str, engine: ScriptedEngine) -> str:
    completer = Completer(engine)
    cursor = doc.index("\n    \n") + 5
    return completer.complete(Snapshot(doc, cursor, "python"), CancelToken(), Settings()).text


def test_answer_that_would_leave_the_code_below_dead_is_decoded_again():
    doc = "def depth(s):\n    \n    for c in s:\n        d += 1\n    return d\n"
    engine = ScriptedEngine({frozenset(): "return d", frozenset({ord("r")}): "d = 0"})
    assert complete_in(doc, engine) == "d = 0"
    assert engine.requests == [frozenset(), frozenset({ord("r")})]


def test_placeholder_comment_is_decoded_again():
    doc = "def area(w, h):\n    \n    return w * h\n"
    engine = ScriptedEngine(
        {frozenset(): "# Your code here", frozenset({ord("#")}): "assert w >= 0"}
    )
    assert complete_in(doc, engine) == "assert w >= 0"
    assert engine.requests == [frozenset(), frozenset({ord("#")})]


def test_rejection_for_other_reasons_does_not_redecode():
    engine = ScriptedEngine({frozenset(): "   "})  # empty answer: nothing to steer away from
    assert complete(engine) == ""
    assert engine.requests == [frozenset()]


def test_an_answer_cut_by_the_time_cap_keeps_whole_lines_only():
    def cut(text: str, finish: str = "time") -> str:
        return _complete_part(Generation(text, [], 0, 0, 0, 0.0, 0.0, finish))

    assert cut("a = 1\n    b = 2\n    c = f(") == "a = 1\n    b = 2\n"
    assert cut("return fo") == "return fo"  # one cut line: the start of what it would say
    assert cut("a = 1\n    b = 2", finish="stop") == "a = 1\n    b = 2"


def test_answer_that_cannot_parse_where_it_stands_is_decoded_again():
    """B1 full set, 0.5B: half the empty answers were syntax_check drops with no second try
    (e.g. a header line whose first token led into an unparseable line)."""
    doc = "def area(w, h):\n    \n        return w * h\n"
    engine = ScriptedEngine(
        {frozenset(): "result = (w *", frozenset({ord("r")}): "if w > 0 and h > 0:"}
    )
    assert complete_in(doc, engine) == "if w > 0 and h > 0:"
    assert engine.requests == [frozenset(), frozenset({ord("r")})]
