"""A worker killed mid-backup: borg dies with it, the run is recovered, nothing stays locked."""

import subprocess
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from common import processes
from hooks.models import ScriptExecution
from repositories import borg
from repositories.models import PlanRun, RepositoryJob
from repositories.services import runs
from repositories.services.recovery import recover_runs
from tests.factories import (
    SLOW_COMPRESSION,
    SLOW_TREE,
    borg_pids,
    make_plan,
    make_repository,
    make_source_tree,
    queue_and_wait_for_borg_create,
)
from tests.harness.net import wait_for
from tests.hookkit import attach, make_script

pytestmark = pytest.mark.django_db(transaction=True)


def _pids(pattern: str) -> list[str]:
    return subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout.split()


@pytest.fixture
def slow_plan(tmp_path):
    repository = make_repository(tmp_path / "repo")
    source = make_source_tree(tmp_path / "big", **SLOW_TREE)
    return make_plan("slow", [repository], [source], compression=SLOW_COMPRESSION)


def test_worker_killed_during_borg_create_is_recovered_by_the_next_worker(qcluster, slow_plan, tmp_path, manage):
    first = qcluster()
    run = queue_and_wait_for_borg_create(slow_plan, tmp_path)
    time.sleep(1)
    first.kill_hard()
    wait_for(lambda: not borg_pids(tmp_path), 10, "borg to die with its worker")
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
    run = queue_and_wait_for_borg_create(slow_plan, tmp_path)
    assert runs.request_cancel(run)
    wait_for(lambda: PlanRun.objects.get(pk=run.pk).status == "failure", 60, "the run to stop")
    run.refresh_from_db()
    assert run.reason == "cancelled"
    assert run.jobs.get().status == "failure"
    assert not borg_pids(tmp_path)
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


def test_worker_killed_during_a_hook_kills_what_the_hook_left_in_the_background(qcluster, tmp_path):
    plan = make_plan("daemonised", [make_repository(tmp_path / "repo")], [make_source_tree(tmp_path / "src")])
    started = tmp_path / "hook-started"
    # A background grandchild, and a sleep that is not exec'd: both outlive the script.
    body = f'#!/bin/sh\nsleep 4322 &\ntouch "{started}"\nsleep 4323\n'
    attach(plan, make_script("leaves-children", body), "pre-backup")
    first = qcluster()
    run = runs.queue_run(plan)
    wait_for(started.exists, 60, "the pre hook to start")
    execution = ScriptExecution.objects.get(run=run)
    assert execution.process_group and execution.process_started
    first.kill_hard()
    time.sleep(1)
    assert _pids("sleep 4322") and _pids("sleep 4323"), "the script's children outlived it and its worker"

    qcluster()
    wait_for(lambda: PlanRun.objects.get(pk=run.pk).status == "failure", 60, "the new worker to recover the run")
    wait_for(lambda: not _pids("sleep 4322") and not _pids("sleep 4323"), 10, "recovery to kill the hook's group")
    execution.refresh_from_db()
    assert execution.error == "interrupted: the worker running it stopped"


@pytest.fixture
def stranger():
    """A process in its own group that no hook started."""
    process = subprocess.Popen(["sleep", "4324"], start_new_session=True)
    yield process
    process.kill()
    process.wait()


def _lost_hook_run(group: int, started: int) -> ScriptExecution:
    script = make_script("lost", "#!/bin/sh\nsleep 1\n", timeout=1)
    return ScriptExecution.objects.create(
        script=script,
        script_name="lost",
        hook_type="test",
        state="running",
        started=timezone.now() - timedelta(hours=1),
        process_group=group,
        process_started=started,
        process_machine=processes.this_machine(),
    )


def test_recovery_never_kills_a_group_whose_id_was_reused(stranger):
    # The recorded group id is now a stranger's, started at another moment.
    _lost_hook_run(stranger.pid, processes.start_time(stranger.pid) - 1)
    recover_runs()
    time.sleep(0.2)
    assert stranger.poll() is None, "a process that only shares the id was killed"


def test_recovery_kills_the_recorded_group_when_its_leader_still_matches(stranger):
    lost = _lost_hook_run(stranger.pid, processes.start_time(stranger.pid))
    recover_runs()
    assert stranger.wait(5) == -9
    lost.refresh_from_db()
    assert lost.state == "done"
