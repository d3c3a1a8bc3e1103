"""The torture benchmark's short variant: the real server over stdio with the real default
model gets random Unicode edits with cancelled completions, malformed requests, a stale edit,
a 2 MB line, a binary document, a request storm, files opened and closed, a burst of new files
in the workspace, a team engine that never answers and SIGTERM during a fix. Every request must
be answered and the server must keep serving real suggestions.

The full run (3,000 edits, 500 files, 10,000 new files) is ``python -m benchmarks.b_torture``.
"""

from __future__ import annotations

import pytest

from benchmarks.b_torture import Plan, malformed_cases, run

pytestmark = [pytest.mark.e2e, pytest.mark.model]


@pytest.fixture(scope="module")
def report() -> dict:
    return run(Plan(edits=400, storm=40, files=12, watch_files=300, seed=11), label="ci")


def test_every_request_is_answered_and_none_is_an_internal_error(report):
    requests = report["requests"]
    assert requests["unanswered"] == 0, requests["unansweredMethods"]
    assert requests["internalErrors"] == []
    assert report["tracebacks"] == 0
    assert report["alive"]


def test_malformed_requests_get_errors_that_say_why(report):
    answers = report["malformed"]["answers"]
    assert set(answers) == {name for name, _, _ in malformed_cases("file:///x")}
    assert all(isinstance(code, int) and code in (-32602, -32601) for code in answers.values()), (
        answers
    )


def test_the_copy_stays_in_sync_and_a_stale_edit_is_held_out(report):
    assert report["edits"]["syncChecks"] >= 1 and report["edits"]["syncMismatches"] == 0
    stale = report["stale"]
    assert stale == {
        "outOfSyncSaid": True,
        "suggestionWhileOutOfSync": False,
        "inSyncAfterFullSync": True,
    }


def test_huge_and_binary_documents_and_a_storm_are_answered(report):
    assert report["huge"]["2MB line"]["suggestion"] is False
    assert report["huge"]["binary"]["suggestion"] is False
    assert report["storm"]["unanswered"] == 0
    assert report["storm"]["cancelledAnswers"] >= 1


def test_new_files_reach_the_index(report):
    assert report["watch"]["indexedFiles"] == 300


def test_the_server_still_suggests_after_it_all(report):
    assert report["plain"]["suggestion"].strip()


def test_a_team_engine_that_never_answers_costs_answers_not_the_server(report):
    remote = report["remote"]
    assert remote["unanswered"] == 0 and remote["alive"]
    assert remote["health"]["state"] == "down"


def test_sigterm_during_a_fix_ends_the_server_cleanly(report):
    assert report["sigterm"]["exitCode"] == 143, report["sigterm"]


def test_a_locked_then_corrupted_index_is_said_once_each_and_rebuilt(report):
    index = report["index"]
    assert index["lockedMessages"] == 1, index
    assert index["corruptSaid"], index
    assert index["storeReadable"]
