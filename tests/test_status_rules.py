"""The pure status and chain rules of a plan run, as tables (docs/running-plans.md).

The real-borg and real-hook tests show them end to end; these tables show every case.
"""

import pytest

from hooks.models import OnFailure, RunOn
from hooks.services.chains import post_chain_status, pre_chain_outcome
from repositories.status import ChainOutcome, Status, combine, overall_status, status_from_borg_exit

OK, WARN, FAILED, SKIPPED = ChainOutcome.OK, ChainOutcome.WARNING, ChainOutcome.FAILED, ChainOutcome.SKIPPED
S, W, F, K = Status.SUCCESS, Status.WARNING, Status.FAILURE, Status.SKIPPED
FAIL, CONTINUE, SKIP = OnFailure.FAIL, OnFailure.CONTINUE, OnFailure.SKIP


@pytest.mark.parametrize(
    ("exit_code", "status"),
    [(0, S), (1, W), (100, W), (127, W), (2, F), (99, F), (128, F), (None, F), (-9, F)],
)
def test_status_from_borg_exit(exit_code, status):
    assert status_from_borg_exit(exit_code) == status


@pytest.mark.parametrize(
    ("plan_pre", "jobs", "status"),
    [
        (OK, [S, S], S),
        (OK, [S, W], W),
        (OK, [S, K], W),  # one repository skipped by its pre hook: a warning for the run
        (OK, [K, K], K),  # every repository skipped: the run is skipped
        (OK, [S, F], F),
        (OK, [K, F], F),
        (OK, [], S),
        (WARN, [S, S], W),  # a plan pre `continue` failure
        (WARN, [K, K], K),
        (WARN, [F], F),
        (FAILED, [K, K], F),  # a plan pre `fail`: nothing ran, the run failed
        (SKIPPED, [K, K], K),  # a plan pre `skip`
    ],
)
def test_overall_status(plan_pre, jobs, status):
    assert overall_status(plan_pre, jobs) == status


@pytest.mark.parametrize(
    ("outcome", "before", "after"),
    [(OK, S, S), (OK, W, W), (WARN, S, W), (WARN, W, W), (WARN, F, F), (FAILED, S, F), (SKIPPED, S, K)],
)
def test_a_pre_chain_outcome_applied_to_the_backup_it_guards(outcome, before, after):
    assert outcome.apply_to(before) == after


@pytest.mark.parametrize(
    ("a", "b", "combined"),
    [(OK, OK, OK), (OK, WARN, WARN), (WARN, SKIPPED, SKIPPED), (SKIPPED, FAILED, FAILED), (FAILED, OK, FAILED)],
)
def test_combine_keeps_the_worst_outcome(a, b, combined):
    assert combine(a, b) == combined == combine(b, a)


@pytest.mark.parametrize(
    ("results", "outcome", "ran"),
    [
        ([], OK, 0),
        ([(True, FAIL), (True, FAIL)], OK, 2),
        ([(False, CONTINUE), (True, FAIL)], WARN, 2),  # logged, the chain goes on
        ([(False, FAIL), (True, FAIL)], FAILED, 1),  # the chain stops
        ([(False, SKIP), (True, FAIL)], SKIPPED, 1),
        ([(False, CONTINUE), (False, SKIP)], SKIPPED, 2),
        ([(False, CONTINUE), (False, FAIL)], FAILED, 2),
    ],
)
def test_pre_chain_outcome(results, outcome, ran):
    assert pre_chain_outcome(results) == (outcome, ran)


@pytest.mark.parametrize(
    ("status", "failed", "after"),
    [
        (S, [], S),
        (S, [CONTINUE], W),
        (S, [FAIL], F),
        (W, [FAIL], F),
        (W, [CONTINUE, CONTINUE], W),
        (F, [CONTINUE], F),
        (K, [FAIL], K),  # a skipped job stays skipped
        (K, [CONTINUE], K),
    ],
)
def test_post_chain_status(status, failed, after):
    assert post_chain_status(status, failed) == after


@pytest.mark.parametrize(
    ("run_on", "status", "matches"),
    [
        (RunOn.ALWAYS, "success", True),
        (RunOn.ALWAYS, "failure", True),
        (RunOn.ALWAYS, "skipped", True),
        (RunOn.SUCCESS, "success", True),
        (RunOn.SUCCESS, "warning", False),
        (RunOn.FAILURE, "failure", True),
        (RunOn.FAILURE, "skipped", False),
        (RunOn.WARNING, "warning", True),
        (RunOn.WARNING, "skipped", True),  # a skipped status matches warning and always only
        (RunOn.SUCCESS, "skipped", False),
    ],
)
def test_run_on_matches(run_on, status, matches):
    assert RunOn(run_on).matches(status) is matches


@pytest.mark.parametrize(("status", "exit_code"), [(S, 0), (K, 0), (W, 1), (F, 2)])
def test_run_backup_exit_code_of_a_finished_run(status, exit_code):
    assert status.exit_code == exit_code
