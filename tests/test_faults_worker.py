"""The worker killed with SIGKILL at each point of a backup, a restore and a check, then
recovered by the next worker (docs/reliability.md). Every case ends with the same
checks (tests/faultkit.py): no container left stopped, no run stuck, no lease held, the
next backup succeeds without a break-lock, and the archives made before are intact."""

import os
import signal
import time

import pytest

from archives.models import RestoreJob
from archives.services import restore
from maintenance.models import MaintenanceJob
from maintenance.services import jobs as maintenance_jobs
from repositories.models import LeaseMode, PlanRun, RepositoryJob, SourceMount
from repositories.services import leases, runs
from tests.archivekit import create_archive, indexed_archive
from tests.factories import make_plan, make_repository, make_source_tree
from tests.faultkit import (
    EARLIER,
    assert_survived,
    borg_pid,
    frozen,
    pids,
    repository_with_an_earlier_archive,
    sleep_once,
)
from tests.harness.net import wait_for
from tests.hookkit import attach, make_script
from tests.remotekit import connect, sshfs_mounts

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.faults]


@pytest.fixture
def world(tmp_path, docker_host):
    """A repository with an archive made before the fault, a container the plan stops."""
    docker_host.run_container("db")
    repository = repository_with_an_earlier_archive(tmp_path / "repo", tmp_path)
    plan = make_plan("faulty", [repository], [make_source_tree(tmp_path / "src")], stop_containers=["db"])
    return plan, repository


def _hook(owner, tmp_path, hook_type: str) -> int:
    body, seconds = sleep_once(tmp_path / f"{hook_type}-started")
    attach(owner, make_script(f"sleepy-{hook_type}", body), hook_type)
    return seconds


def _in_pre_hook(plan, repository, tmp_path, docker):
    seconds = _hook(plan, tmp_path, "pre-backup")
    return lambda run: wait_for(lambda: pids(f"sleep {seconds}"), 60, "the pre hook"), seconds


def _in_pre_hook_with_a_child(plan, repository, tmp_path, docker):
    """The hook's sleep is its child (no exec): the parent-death signal reaches only the shell."""
    body, seconds = sleep_once(tmp_path / "pre-backup-started")
    attach(plan, make_script("sleepy-child", body.replace("exec sleep", "sleep")), "pre-backup")
    return lambda run: wait_for(lambda: pids(f"sleep {seconds}"), 60, "the pre hook's child"), seconds


def _after_containers_stopped(plan, repository, tmp_path, docker):
    # The repository's pre hook runs after the plan's container stop (docs/running-plans.md#order).
    seconds = _hook(repository, tmp_path, "pre-backup")

    def reached(run):
        wait_for(lambda: pids(f"sleep {seconds}"), 60, "the repository pre hook")
        assert docker.state("db") == "exited"

    return reached, seconds


def _in_post_hook(plan, repository, tmp_path, docker):
    seconds = _hook(repository, tmp_path, "post-backup")
    return lambda run: wait_for(lambda: pids(f"sleep {seconds}"), 60, "the post hook"), seconds


def _in_borg_create(plan, repository, tmp_path, docker):
    return lambda run: borg_pid("create", repository.location, locked=tmp_path / "repo"), None


# point → (how to get there, the job's status after recovery: a job never reached is skipped)
KILL_POINTS = {
    "pre hook": (_in_pre_hook, "skipped"),
    "pre hook with a child": (_in_pre_hook_with_a_child, "skipped"),
    "after containers were stopped": (_after_containers_stopped, "failure"),
    "borg create": (_in_borg_create, "failure"),
    "post hook": (_in_post_hook, "failure"),
}


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_a_worker_killed_during_a_backup_is_recovered(point, world, qcluster, tmp_path, docker_host):
    plan, repository = world
    prepare, job_status = KILL_POINTS[point]
    reached, hook_sleep = prepare(plan, repository, tmp_path, docker_host)
    first = qcluster(DOCKER_HOST=docker_host.host)
    run = runs.queue_run(plan)
    found = reached(run)
    if point == "borg create":
        with frozen(found):  # borg holds its lock, half way through, when its worker dies
            first.kill_hard()
    else:
        first.kill_hard()
    killed = time.monotonic()
    assert PlanRun.objects.get(pk=run.pk).status == "running", "nobody has noticed yet"

    qcluster(DOCKER_HOST=docker_host.host)
    wait_for(lambda: PlanRun.objects.get(pk=run.pk).status == "failure", 60, "the next worker to recover the run")
    print(f"\nfault: worker SIGKILL during {point}: recovered in {time.monotonic() - killed:.1f} s")
    run.refresh_from_db()
    assert run.reason == "interrupted"
    assert "interrupted: its worker" in run.log
    assert run.jobs.get().status == job_status
    if hook_sleep is not None:
        try:
            assert not pids(f"sleep {hook_sleep}"), "the hook (or its child) outlived its worker"
        finally:
            for pid in pids(f"sleep {hook_sleep}"):
                os.kill(pid, signal.SIGKILL)
    assert not pids(f"borg .*{repository.location}")
    assert_survived(plan, [repository], docker_host, ["db"])


def _dead_holders_expire(settings, repository) -> None:
    """A dead restore's or check's lease is free once its heartbeat is BORGUI_STALE_AFTER_SECONDS
    old (30 by default; 5 here, the minimum, to keep the test short)."""
    settings.BORGUI_STALE_AFTER_SECONDS = 5
    wait_for(lambda: not leases.busy_reason(repository, LeaseMode.WRITE), 15, "the dead holder's lease to expire")


def test_a_worker_killed_during_a_restore_is_recovered(qcluster, tmp_path, docker_host, settings):
    repository = make_repository(tmp_path / "repo")
    source = make_source_tree(tmp_path / "src", files=20)
    found = indexed_archive(repository, source, EARLIER)
    plan = make_plan("faulty", [repository], [source])
    job = restore.request(found, [], target=str(tmp_path / "restored"), admin_group=True)
    first = qcluster()
    restore.queue(job)
    with frozen(borg_pid("extract", repository.location)):
        first.kill_hard()
    killed = time.monotonic()
    assert RestoreJob.objects.get(pk=job.pk).status == "running"
    # The next worker's start finds the dead worker's process gone: no waiting for the heartbeat.
    qcluster()
    wait_for(lambda: RestoreJob.objects.get(pk=job.pk).status == "failure", 20, "recovery to finish the restore")
    print(f"\nfault: worker SIGKILL during a restore: recovered in {time.monotonic() - killed:.1f} s")
    job.refresh_from_db()
    assert job.reason == "interrupted: the worker running it stopped"
    assert not pids(f"borg .*{repository.location}")
    _dead_holders_expire(settings, repository)
    assert_survived(plan, [repository])
    # Nothing lost: the same restore, asked again, puts every file back.
    again = restore.request(found, [], target=str(tmp_path / "again"), admin_group=True)
    assert restore.execute(again) == "success"
    assert sorted(p.name for p in (tmp_path / "again").rglob("*.bin")) == sorted(p.name for p in source.iterdir())


def test_a_worker_killed_during_a_check_is_recovered(qcluster, tmp_path, settings):
    repository = make_repository(tmp_path / "repo")
    source = make_source_tree(tmp_path / "src")
    create_archive(repository, source, EARLIER)
    plan = make_plan("faulty", [repository], [source])
    job = maintenance_jobs.create_job("check", repository=repository)
    first = qcluster()
    maintenance_jobs.queue(job)
    with frozen(borg_pid("check", repository.location, locked=tmp_path / "repo")):
        first.kill_hard()
    killed = time.monotonic()
    assert MaintenanceJob.objects.get(pk=job.pk).status == "running"
    qcluster()
    wait_for(lambda: MaintenanceJob.objects.get(pk=job.pk).status == "failure", 20, "recovery to finish the check")
    print(f"\nfault: worker SIGKILL during a check: recovered in {time.monotonic() - killed:.1f} s")
    job.refresh_from_db()
    assert job.reason == "interrupted: the process running it stopped"
    assert not pids(f"borg .*{repository.location}")
    _dead_holders_expire(settings, repository)
    assert_survived(plan, [repository])


def test_a_worker_killed_during_an_sshfs_backup_is_recovered_and_unmounted(qcluster, tmp_path, remote_sshd):
    remote_sshd.remote("rm -rf /srv/faults && mkdir -p /srv/faults && echo hello > /srv/faults/a.txt")
    repository = repository_with_an_earlier_archive(tmp_path / "repo", tmp_path)
    plan = make_plan("pull", [repository], ["/srv/faults"], source_connection=connect(remote_sshd), sources_on="source")
    first = qcluster()
    run = runs.queue_run(plan)
    with frozen(borg_pid("create", repository.location, locked=tmp_path / "repo")):
        assert RepositoryJob.objects.get(run=run).status == "running"
        [mount_point] = sshfs_mounts()
        first.kill_hard()
    killed = time.monotonic()
    assert sshfs_mounts() == [mount_point], "sshfs runs in a session of its own: it outlives the worker"
    qcluster()
    wait_for(lambda: PlanRun.objects.get(pk=run.pk).status == "failure", 60, "the next worker to recover the run")
    wait_for(lambda: not sshfs_mounts(), 30, "recovery to unmount")
    print(f"\nfault: worker SIGKILL during an SSHFS backup: recovered in {time.monotonic() - killed:.1f} s")
    assert SourceMount.objects.get(run=run).unmounted_at is not None
    wait_for(lambda: not pids(f"sshfs .*{mount_point}"), 10, "sshfs to exit")
    after = assert_survived(plan, [repository])
    assert sshfs_mounts() == [] and SourceMount.objects.get(run=after).unmounted_at is not None
    remote_sshd.remote("rm -rf /srv/faults")
