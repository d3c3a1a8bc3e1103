"""Verification of fix candidates: the checks that show the bug, run against each candidate.

Two suites, either or both: the function's docstring examples (``fix.evidence``) and the tests
the user named (``fix.named_test``). A suite runs on the function as it is first (the baseline:
its failures are the evidence the model is shown); a suite that cannot run there is dropped,
with the reason kept for the user's message. A candidate scores the number of checks it passes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from lsp_server.engine.base import CancelToken
from lsp_server.fix.answer import replace_function
from lsp_server.fix.evidence import docstring_examples, module_for, run_examples
from lsp_server.fix.function import FunctionSpan
from lsp_server.fix.named_test import CannotRun, run_tests

log = logging.getLogger(__name__)


class Check(Protocol):
    passed: bool

    def describe(self) -> str: ...


@dataclass(frozen=True)
class NamedTests:
    """What the user named: pytest node ids, run from ``root`` with ``path`` as the file."""

    node_ids: tuple[str, ...]
    path: str  # the file being fixed, on disk
    root: str  # where pytest runs (the workspace folder)
    timeout_s: float = 30.0


class Suite(Protocol):
    singular: str
    plural: str

    def run(self, candidate: str) -> list[Check]:
        """Each check's outcome with the function replaced by ``candidate``; raises
        RuntimeError when the suite cannot run at all."""
        ...


class ExampleSuite:
    singular, plural = "docstring example", "docstring examples"

    def __init__(
        self,
        document: str,
        function: FunctionSpan,
        python: str,
        cancel: CancelToken | None = None,
    ) -> None:
        self.document, self.function, self.python = document, function, python
        self.cancel = cancel
        self.examples = docstring_examples(function.text, function.name)

    def run(self, candidate: str) -> list[Check]:
        module = module_for(
            self.document, self.function.start_line, self.function.end_line, candidate
        )
        outcomes = (
            run_examples(module, self.examples, self.python, cancel=self.cancel) if module else None
        )
        if outcomes is None:
            raise RuntimeError("the docstring examples could not run")
        return list(outcomes)


class NamedTestSuite:
    singular, plural = "named test", "named tests"

    def __init__(
        self,
        document: str,
        function: FunctionSpan,
        tests: NamedTests,
        python: str,
        cancel: CancelToken | None = None,
    ) -> None:
        self.document, self.function, self.tests, self.python = document, function, tests, python
        self.cancel = cancel

    def run(self, candidate: str) -> list[Check]:
        document = replace_function(self.document, self.function, candidate)
        t = self.tests
        try:
            outcomes = run_tests(
                document, t.path, t.root, t.node_ids, self.python, t.timeout_s, self.cancel
            )
            return list(outcomes)
        except CannotRun as exc:
            raise RuntimeError(str(exc)) from exc


class Verifier:
    """Runs the suites that could run on the original function against candidates."""

    def __init__(self, suites: list[Suite]) -> None:
        self.suites = suites
        self.sizes: list[int] = []
        self.problems: list[str] = []  # why a suite was dropped, for the user

    @classmethod
    def for_function(
        cls,
        document: str,
        function: FunctionSpan,
        language: str,
        python: str,
        tests: NamedTests | None = None,
        cancel: CancelToken | None = None,
    ) -> Verifier:
        """The suites that apply: named tests (Python), then docstring examples (module-level
        Python functions: a method needs an instance the examples do not show how to build).
        ``cancel`` (the fix's) kills a run in progress: the suites then raise ``Cancelled``."""
        suites: list[Suite] = []
        problems = []
        if tests is not None and tests.node_ids:
            if language == "python":
                suites.append(NamedTestSuite(document, function, tests, python, cancel))
            else:
                problems.append("only Python tests (pytest) can be run")
        if language == "python" and not function.indent:
            examples = ExampleSuite(document, function, python, cancel)
            if examples.examples:
                suites.append(examples)
        verifier = cls(suites)
        verifier.problems = problems
        return verifier

    def baseline(self, original: str) -> list[Check]:
        """Run every suite on the function as it is; drop those that cannot run."""
        kept, sizes, checks = [], [], []
        for suite in self.suites:
            try:
                found = suite.run(original)
            except RuntimeError as exc:
                log.info("%s dropped: %s", suite.plural, exc)
                self.problems.append(f"{suite.plural} not run: {exc}")
                continue
            kept.append(suite)
            sizes.append(len(found))
            checks.extend(found)
        self.suites, self.sizes = kept, sizes
        return checks

    @property
    def total(self) -> int:
        return sum(self.sizes)

    def score(self, candidate: str) -> int:
        """How many checks ``candidate`` passes (a suite that fails to run passes none)."""
        passed = 0
        for suite in self.suites:
            try:
                passed += sum(check.passed for check in suite.run(candidate))
            except RuntimeError:
                continue
        return passed

    def noun(self) -> str:
        """What the checks are, for messages: "docstring examples", "named test", ..."""
        parts = [
            f"{size} {suite.singular if size == 1 else suite.plural}"
            for suite, size in zip(self.suites, self.sizes, strict=True)
        ]
        if len(parts) == 1:
            suite, size = self.suites[0], self.sizes[0]
            return suite.singular if size == 1 else suite.plural
        return "checks (" + ", ".join(parts) + ")"
