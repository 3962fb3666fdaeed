"""A worker killed mid-backup: borg dies with it, the run is recovered, nothing stays locked."""

import subprocess
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from hooks.models import ScriptExecution
from repositories import borg
from repositories.models import PlanRun, RepositoryJob
from repositories.services import runs
from repositories.services.recovery import recover_runs
from tests.factories import SLOW_COMPRESSION, SLOW_TREE, make_plan, make_repository, make_source_tree
from tests.harness.net import wait_for
from tests.hookkit import attach, make_script

pytestmark = pytest.mark.django_db(transaction=True)


def _pids(pattern: str) -> list[str]:
    return subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout.split()


def _borg_pids(marker) -> list[str]:
    return _pids(f"borg .*{marker}")


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


def test_worker_killed_during_a_hook_takes_the_hook_with_it(qcluster, tmp_path):
    plan = make_plan("hooked", [make_repository(tmp_path / "repo")], [make_source_tree(tmp_path / "src")])
    started = tmp_path / "hook-started"
    long_pre = make_script("long-pre", f'#!/bin/sh\ntouch "{started}"\nexec sleep 4321\n')
    attach(plan, long_pre, "pre-backup")
    first = qcluster()
    run = runs.queue_run(plan)
    wait_for(started.exists, 60, "the pre hook to start")
    first.kill_hard()  # the hook runs in its own session: only its parent's death reaches it
    wait_for(lambda: not _pids("sleep 4321"), 10, "the hook to die with its worker")

    qcluster()
    wait_for(lambda: PlanRun.objects.get(pk=run.pk).status == "failure", 60, "the new worker to recover the run")
    execution = ScriptExecution.objects.get(run=run)
    assert (execution.state, execution.error) == ("done", "interrupted: the worker running it stopped")
    assert execution.finished is not None
    assert "1 hook run(s) interrupted with the worker" in PlanRun.objects.get(pk=run.pk).log


def test_a_script_test_whose_worker_died_is_finished_as_interrupted():
    script = make_script("slow", "#!/bin/sh\nsleep 1\n", timeout=60)
    long_ago = timezone.now() - timedelta(seconds=60 + 121)
    lost = ScriptExecution.objects.create(
        script=script, script_name="slow", hook_type="test", state="running", started=long_ago
    )
    busy = ScriptExecution.objects.create(
        script=script, script_name="slow", hook_type="test", state="running", started=timezone.now()
    )
    recover_runs()
    lost.refresh_from_db()
    busy.refresh_from_db()
    assert (lost.state, lost.error, lost.succeeded) == ("done", "interrupted: the worker running it stopped", False)
    assert busy.state == "running", "still within its timeout: maybe running"
