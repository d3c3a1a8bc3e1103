"""One "Fix this function", start to finish: function -> evidence -> chat prompt -> engine ->
validated candidates -> the best one as minimal line hunks.

The same stages as a completion (context -> prompt -> engine -> validate), run on the model
worker thread by the server (``codeAction/resolve`` and the ``infill.fixFunction`` command), by
``infill-lsp fix`` and by the B3 benchmark.

- Evidence: for Python, the tests the user named and the function's docstring examples run
  first (``fix.verify``), and what fails ("called f(3) -> got 4, expected 6", "test t fails:
  assert 4 == 6") goes into the prompt.
- Candidates: the greedy answer first, then sampled ones, within a count and a time budget; an
  answer that does not parse, drops or renames the function, or changes its signature is
  rejected, and the next prompt says why (stricter). With checks, each candidate is run
  against them and the one passing most wins (ties: the smallest diff); it stops early at one
  that passes them all. Without checks, the first valid answer is taken.
- Nothing is ever half-applied: the result is a complete set of hunks or no edit, with a
  message that says what was verified.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from lsp_server.engine.base import CancelToken, Engine, GenerationRequest
from lsp_server.fix.answer import Rejected, check_in_place, extract
from lsp_server.fix.edits import Hunk, line_hunks
from lsp_server.fix.function import FunctionSpan
from lsp_server.fix.infill import line_candidates
from lsp_server.fix.verify import NamedTests, Verifier
from lsp_server.prompt.chat import FixRequest, fix_messages, render
from lsp_server.settings import Settings

log = logging.getLogger(__name__)

Progress = Callable[[str, int], None]  # (message, percentage)
FENCE = "```"
SAMPLE_TEMPERATURE = 0.7
MAX_EVIDENCE = 4  # failing checks shown to the model


class TooLong(Exception):
    """The function does not fit the model's context window with room for its answer."""


@dataclass
class Scored:
    text: str
    passed: int | None  # checks passed; None without a verifier
    changed_lines: int


@dataclass
class FixOutcome:
    function: FunctionSpan
    new_text: str | None  # None: no edit (nothing proposed, or every answer rejected)
    hunks: list[Hunk]
    message: str  # for the user: what happened and what was verified
    attempts: int = 0
    total_ms: float = 0.0
    checks: int = 0  # runnable checks (named tests + docstring examples; 0 = no evidence)
    checks_noun: str = ""  # what they are, for messages ("docstring examples", ...)
    baseline_passed: int | None = None  # of those, how many the original passes
    passed: int | None = None  # how many the offered fix passes
    notes: list[str] = field(default_factory=list)  # checks that could not run, and why
    replies: list[str] = field(default_factory=list)  # raw model answers (logs, debugging)

    @property
    def changed(self) -> bool:
        return self.new_text is not None

    @property
    def verified(self) -> bool:
        return self.changed and self.checks > 0 and self.passed == self.checks


class Fixer:
    """Runs the fix pipeline against one engine with the current settings."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings

    def verifier(
        self,
        document: str,
        function: FunctionSpan,
        language: str,
        tests: NamedTests | None,
        outcome: FixOutcome,
        cancel: CancelToken | None = None,
    ) -> tuple[Verifier | None, tuple[str, ...]]:
        """The checks that can run on this function (None: no evidence), and the descriptions
        of those the function fails as it is (the evidence shown to the model). ``cancel``
        kills a check's run in progress (``Cancelled``)."""
        if not self.settings.fix_run_examples:
            if tests is not None and tests.node_ids:
                outcome.notes.append("the named test was not run (fixRunExamples is off)")
            return None, ()
        verifier = Verifier.for_function(
            document, function, language, self.settings.example_python(), tests, cancel
        )
        baseline = verifier.baseline(function.text)
        outcome.notes.extend(verifier.problems)
        if not verifier.total:
            return None, ()
        outcome.checks, outcome.checks_noun = verifier.total, verifier.noun()
        outcome.baseline_passed = sum(check.passed for check in baseline)
        return verifier, tuple(c.describe() for c in baseline if not c.passed)[:MAX_EVIDENCE]

    def fix(
        self,
        document: str,
        function: FunctionSpan,
        request: FixRequest,
        cancel: CancelToken,
        progress: Progress | None = None,
        units: Callable[[str], int] = len,
        tests: NamedTests | None = None,
    ) -> FixOutcome:
        """Fix ``function`` of ``document``; ``tests`` are the failing tests the user named."""
        started = time.perf_counter()
        outcome = FixOutcome(function, None, [], "")
        if progress is not None and tests is not None and tests.node_ids:
            progress("running the named test…", 0)
        verifier, failing = self.verifier(
            document, function, request.language, tests, outcome, cancel
        )
        if failing:
            request = dataclasses.replace(request, evidence=request.evidence + failing)
        try:
            best = self._search(document, function, request, cancel, progress, verifier, outcome)
        except TooLong as exc:
            best, outcome.message = None, f"no fix: {exc}"
        self._settle(outcome, best, units)
        outcome.total_ms = (time.perf_counter() - started) * 1000
        return outcome

    def _search(
        self,
        document: str,
        function: FunctionSpan,
        request: FixRequest,
        cancel: CancelToken,
        progress: Progress | None,
        verifier: Verifier | None,
        outcome: FixOutcome,
    ) -> Scored | None:
        """Ask for candidates until one passes every example or the time budget is spent:
        (with checks) one-line FIM rewrites first, within half the budget, being the cheapest
        and most often right for a one-line bug; then the greedy chat answer, then sampled ones.
        Without checks: the first valid chat answer (one stricter retry when rejected)."""
        started = time.perf_counter()
        deadline = started + self.settings.fix_budget_ms / 1000
        tries = self.settings.fix_candidates if verifier is not None else 1
        keep_signature = not request.instruction.strip()
        best: Scored | None = None
        if verifier is not None and outcome.baseline_passed != outcome.checks:
            half = started + self.settings.fix_budget_ms / 2000
            best = self._infill(document, function, request.language, cancel, verifier, half)
            if best is not None and best.passed == outcome.checks:
                return best
        attempt = 0
        while attempt < tries or (request.rejected and attempt <= tries):
            if attempt and time.perf_counter() > deadline:
                break
            attempt += 1
            temperature = 0.0 if attempt == 1 or request.rejected else SAMPLE_TEMPERATURE
            reply = self._ask(request, cancel, progress, attempt, temperature)
            outcome.attempts = attempt
            outcome.replies.append(reply)
            try:
                candidate = extract(
                    reply, function, request.language, document, keep_signature=keep_signature
                )
            except Rejected as exc:
                log.info("fix attempt %d rejected: %s", attempt, exc)
                outcome.message = f"no fix: the model's answer was rejected ({exc})"
                request = dataclasses.replace(request, rejected=str(exc))
                continue
            request = dataclasses.replace(request, rejected="")
            if candidate.same:
                outcome.message = f"no change proposed for `{function.name}`"
                if verifier is None or outcome.baseline_passed == outcome.checks:
                    break  # nothing shows the function wrong: unchanged is a fine answer
                continue
            scored = self._score(candidate.text, function, verifier)
            if best is None or _better(scored, best):
                best = scored
            if verifier is None or scored.passed == outcome.checks:
                break
        return best

    def _infill(
        self,
        document: str,
        function: FunctionSpan,
        language: str,
        cancel: CancelToken,
        verifier: Verifier,
        deadline: float,
    ) -> Scored | None:
        """One-line rewrites by the FIM model (``fix.infill``), verified; stops at the first
        that passes every check or at the deadline."""
        total = verifier.total
        best: Scored | None = None
        rewrites = line_candidates(self.engine, self.settings, document, function, language, cancel)
        for text in rewrites:
            try:
                check_in_place(document, function, text, language)
            except Rejected:
                continue
            scored = self._score(text, function, verifier)
            if best is None or _better(scored, best):
                best = scored
            if scored.passed == total or time.perf_counter() > deadline:
                break
        return best

    def _score(self, text: str, function: FunctionSpan, verifier: Verifier | None) -> Scored:
        changed = sum(h.end_line - h.start_line + 1 for h in line_hunks(function.text, text, 0))
        if verifier is None:
            return Scored(text, None, changed)
        return Scored(text, verifier.score(text), changed)

    def _settle(self, outcome: FixOutcome, best: Scored | None, units) -> None:
        """Decide what is offered, and say what was verified."""
        function, total, noun = outcome.function, outcome.checks, outcome.checks_noun
        notes = "".join(f"; {note}" for note in outcome.notes)
        if best is None:
            outcome.message = (outcome.message or f"no fix found for `{function.name}`") + notes
            return
        before = outcome.baseline_passed or 0
        if best.passed is not None and (best.passed < before or best.passed == before < total):
            outcome.message = (
                f"no fix found for `{function.name}`: no candidate passes more of its "
                f"{total} {noun} than the function as it is ({before}/{total})" + notes
            )
            return
        outcome.new_text, outcome.passed = best.text, best.passed
        outcome.hunks = line_hunks(function.text, best.text, function.start_line, units)
        if best.passed is None:
            label = "not verified (no runnable examples or tests)"
        elif best.passed == before:
            label = f"still passes its {total} {noun} (they do not show the bug)"
        elif best.passed == total:
            label = f"passes {total}/{total} {noun}"
        else:
            label = f"passes {best.passed}/{total} {noun} (was {before}/{total})"
        outcome.message = f"Fix this function `{function.name}` — {label}" + notes

    def prompt_for(self, request: FixRequest) -> list[int]:
        engine = self.engine
        text = render(
            fix_messages(request),
            engine.chat_template,
            bos=engine.special_text(engine.bos_id),
            eos=engine.special_text(engine.eos_id),
            language=request.language,
        )
        return engine.tokenize(text, special=True)

    def _ask(
        self,
        request: FixRequest,
        cancel: CancelToken,
        progress: Progress | None,
        attempt: int,
        temperature: float,
    ) -> str:
        """One model answer, primed with the opening fence (which is part of the prompt)."""
        prompt = self.prompt_for(request)
        room = self.engine.n_ctx - len(prompt) - 1
        wanted = 2 * len(self.engine.tokenize(request.function)) + 64
        max_tokens = min(room, wanted, self.settings.fix_max_tokens)
        if max_tokens < wanted // 2:
            raise TooLong(f"`{request.name}` is too long for the model's context window")
        label = f"candidate {attempt}"
        count = 0

        def should_stop(text: str) -> bool:
            nonlocal count
            count += 1
            if progress is not None and count % 16 == 0:
                progress(f"{label}: {count} tokens", min(99, 100 * count // max_tokens))
            return FENCE in text  # the code block is closed: the rest would be prose

        if progress is not None:
            progress(f"{label}…", 0)
        generation = self.engine.generate(
            GenerationRequest(
                prompt=prompt,
                max_tokens=max_tokens,
                temperature=temperature,
                should_stop=should_stop,
                max_time_ms=self.settings.fix_max_time_ms,
            ),
            cancel,
        )
        return f"{FENCE}{request.language}\n{generation.text}"


def _better(a: Scored, b: Scored) -> bool:
    """More checks passed wins; then the smaller change."""
    return ((a.passed or 0), -a.changed_lines) > ((b.passed or 0), -b.changed_lines)
