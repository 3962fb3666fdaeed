"""A worker killed mid-backup: borg dies with it, the run is recovered, nothing stays locked."""

import subprocess
import time

import pytest

from repositories import borg
from repositories.models import PlanRun, RepositoryJob
from repositories.services import runs
from tests.factories import SLOW_COMPRESSION, SLOW_TREE, make_plan, make_repository, make_source_tree
from tests.harness.net import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def _borg_pids(marker) -> list[str]:
    return subprocess.run(["pgrep", "-f", f"borg .*{marker}"], capture_output=True, text=True).stdout.split()


@pytest.fixture
def slow_plan(tmp_path):
    repository = make_repository(tmp_path / "repo")
    source = make_source_tree(tmp_path / "big", **SLOW_TREE)
    return make_plan("slow", [repository], [source], compression=SLOW_COMPRESSION)


def test_worker_killed_during_borg_create_is_recovered_by_the_next_worker(qcluster, slow_plan, tmp_path, manage):
    first = qcluster()
    run = runs.queue_run(slow_plan)
    wait_for(
        lambda: RepositoryJob.objects.filter(run=run, status="running").exists() and _borg_pids(tmp_path),
        60,
        "borg create to run",
    )
    time.sleep(1)
    first.kill_hard()
    wait_for(lambda: not _borg_pids(tmp_path), 10, "borg to die with its worker")
    assert PlanRun.objects.get(pk=run.pk).status == "running", "nobody has noticed yet"

    qcluster()
    # Recovery runs the post steps first (the run stays active meanwhile), then finishes the
    # run with its whole log in one update.
    wait_for(lambda: PlanRun.objects.get(pk=run.pk).status == "failure", 60, "the new worker to recover the run")
    run.refresh_from_db()
    assert (run.status, run.reason) == ("failure", "interrupted")
    assert "interrupted" in run.log
    job = run.jobs.get()
    assert (job.status, job.reason, job.post_done) == ("failure", "interrupted", True)

    # No break-lock needed: the next backup of the same repository succeeds.
    result = manage("run_backup", "slow")
    assert result.returncode == 0, result.stdout + result.stderr


def test_cancel_during_borg_create_stops_borg_and_records_cancelled(qcluster, slow_plan, tmp_path):
    qcluster()
    run = runs.queue_run(slow_plan)
    wait_for(
        lambda: RepositoryJob.objects.filter(run=run, status="running").exists() and _borg_pids(tmp_path),
        60,
        "borg create to run",
    )
    assert runs.request_cancel(run)
    wait_for(lambda: PlanRun.objects.get(pk=run.pk).status == "failure", 60, "the run to stop")
    run.refresh_from_db()
    assert run.reason == "cancelled"
    assert run.jobs.get().status == "failure"
    assert not _borg_pids(tmp_path)
    assert borg.check(slow_plan.ordered_repositories()[0]).ok


def test_recover_runs_command_finishes_a_run_whose_heartbeat_stopped(manage, slow_plan):
    from datetime import timedelta

    from django.utils import timezone

    stale = timezone.now() - timedelta(minutes=5)
    run = PlanRun.objects.create(
        plan=slow_plan, trigger="admin", status="running", heartbeat=stale, worker="elsewhere:1", plan_pre_started=True
    )
    RepositoryJob.objects.create(run=run, repository=slow_plan.ordered_repositories()[0], status="pending")
    fresh = manage("recover_runs", "--stale-after", "600")
    assert fresh.stdout.strip().splitlines()[-1] == "0 run(s) recovered"
    result = manage("recover_runs", "--stale-after", "60")
    assert result.returncode == 0
    assert f"recovered run {run.pk} of plan slow: failure (interrupted)" in result.stdout
    run.refresh_from_db()
    assert (run.status, run.reason, run.plan_post_done) == ("failure", "interrupted", True)
    assert run.jobs.get().status == "skipped"
