"""Stopping a worker that is running a backup, every way it is stopped (docs/stopping.md):
it exits in seconds, the backup is cancelled, its post hook runs, and borg leaves no lock."""

import os
import signal
import subprocess
import sys
import time

import pytest

from common.processes import descendants
from repositories.models import PlanRun
from tests.conftest import ROOT
from tests.factories import (
    SLOW_COMPRESSION,
    SLOW_TREE,
    borg_pids,
    make_plan,
    make_repository,
    make_source_tree,
    queue_and_wait_for_borg_create,
)
from tests.harness.net import free_port, wait_for
from tests.hookkit import attach, make_script

pytestmark = pytest.mark.django_db(transaction=True)

EXIT_LIMIT = 60  # far above the few seconds it takes; django-q2 alone hung here until SIGKILL


@pytest.fixture
def slow_plan(tmp_path):
    repository = make_repository(tmp_path / "repo")
    source = make_source_tree(tmp_path / "big", **SLOW_TREE)
    plan = make_plan("slow", [repository], [source], compression=SLOW_COMPRESSION)
    post = make_script("post-marker", f'#!/bin/sh\necho "$BORG_UI_BACKUP_STATUS" > "{tmp_path / "post-ran"}"\n')
    attach(plan, post, "post-backup")
    return plan


def _stop_and_time(process: subprocess.Popen, send) -> float:
    started = time.monotonic()
    send()
    try:
        process.wait(EXIT_LIMIT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        pytest.fail(f"still running {EXIT_LIMIT} s after the stop signal (killed)")
    return time.monotonic() - started


def _assert_cancelled_cleanly(run, tmp_path, manage, how: str, seconds: float) -> None:
    run.refresh_from_db()
    job = run.jobs.get()
    print(f"\nstop by {how}: exited in {seconds:.1f} s; run {run.status} ({run.reason}), log tail:\n{run.log[-400:]}")
    assert run.status == "failure" and run.finished is not None
    assert run.reason == "cancelled"
    assert "the worker is stopping" in run.log
    assert (job.status, job.post_done) == ("failure", True)
    assert (tmp_path / "post-ran").read_text().strip() == "failure", "the post hook ran, told the backup failed"
    assert not borg_pids(tmp_path)
    # No break-lock: the next backup of the same repository succeeds.
    result = manage("run_backup", "slow")
    assert result.returncode == 0, result.stdout + result.stderr


STOP_QCLUSTER = {
    "sigterm-to-the-main-process": lambda p: p.send_signal(signal.SIGTERM),
    "sigterm-to-the-process-group": lambda p: os.killpg(p.pid, signal.SIGTERM),
    "ctrl-c": lambda p: os.killpg(p.pid, signal.SIGINT),  # the terminal signals the foreground group
}


@pytest.mark.parametrize("how", STOP_QCLUSTER)
def test_qcluster_stops_in_seconds_cancelling_the_backup(how, qcluster, slow_plan, tmp_path, manage):
    cluster = qcluster()
    run = queue_and_wait_for_borg_create(slow_plan, tmp_path)
    seconds = _stop_and_time(cluster.process, lambda: STOP_QCLUSTER[how](cluster.process))
    assert cluster.process.returncode == 0, cluster.log()[-2000:]
    _assert_cancelled_cleanly(run, tmp_path, manage, how, seconds)


def _signal_all(pids: list[int], signum: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass


@pytest.fixture
def container(subprocess_env, tmp_path):
    """The image's process tree: tini as PID 1 of its own PID namespace, the entrypoint in
    `all` mode (gunicorn and a qcluster worker) below it."""
    env = {**subprocess_env, "PYTHON": sys.executable, "BIND": f"127.0.0.1:{free_port()}"}
    log = open(tmp_path / "container.log", "wb")
    process = subprocess.Popen(
        ["unshare", "--pid", "--fork", "--kill-child", "tini", "--", str(ROOT / "docker" / "entrypoint.sh"), "all"],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    yield process
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    log.close()


def _pid_one(container: subprocess.Popen) -> int:
    """tini, as the host sees it (unshare's only child)."""
    wait_for(lambda: descendants(container.pid), 10, "tini to start")
    return descendants(container.pid)[0]


STOP_CONTAINER = {
    # `docker stop`: SIGTERM to PID 1 only.
    "docker-stop": lambda tini, tree: os.kill(tini, signal.SIGTERM),
    # systemd's KillMode=control-group: SIGTERM to every process, borg and hooks included.
    "sigterm-to-every-process": lambda tini, tree: _signal_all([tini, *tree], signal.SIGTERM),
}


@pytest.mark.parametrize("how", STOP_CONTAINER)
def test_the_image_stops_in_seconds_cancelling_the_backup(how, container, slow_plan, tmp_path, manage):
    tini = _pid_one(container)
    run = queue_and_wait_for_borg_create(slow_plan, tmp_path)
    tree = descendants(tini)
    seconds = _stop_and_time(container, lambda: STOP_CONTAINER[how](tini, tree))
    log = (tmp_path / "container.log").read_text(errors="replace")
    assert "not stopped after" not in log, log[-3000:]
    assert not [pid for pid in tree if os.path.exists(f"/proc/{pid}")], "a process of the container outlived it"
    if how == "sigterm-to-every-process":
        # borg got SIGTERM itself and may end before the worker's cancel: failed, either way.
        run.refresh_from_db()
        job = run.jobs.get()
        print(f"\nstop by {how}: exited in {seconds:.1f} s; run {run.status} ({run.reason})")
        assert (run.status, job.status, job.post_done) == ("failure", "failure", True)
        assert (tmp_path / "post-ran").read_text().strip() == "failure"
        assert not borg_pids(tmp_path)
        result = manage("run_backup", "slow")
        assert result.returncode == 0, result.stdout + result.stderr
    else:
        _assert_cancelled_cleanly(run, tmp_path, manage, how, seconds)


def test_a_worker_stopped_while_containers_are_stopped_starts_them_before_it_exits(docker_host, qcluster, tmp_path):
    docker_host.run_container("db")
    source = make_source_tree(tmp_path / "big", **SLOW_TREE)
    plan = make_plan(
        "slow", [make_repository(tmp_path / "repo")], [source], compression=SLOW_COMPRESSION, stop_containers=["db"]
    )
    cluster = qcluster(DOCKER_HOST=docker_host.host)
    run = queue_and_wait_for_borg_create(plan, tmp_path)
    assert docker_host.state("db") == "exited"
    seconds = _stop_and_time(cluster.process, lambda: os.killpg(cluster.process.pid, signal.SIGTERM))
    print(f"\nstop by sigterm-to-the-process-group with a container stopped: exited in {seconds:.1f} s")
    run.refresh_from_db()
    assert (run.status, run.reason) == ("failure", "cancelled")
    assert docker_host.state("db") == "running"
    assert run.container_stops.get().started_at is not None


def test_a_worker_whose_post_hook_outlasts_the_grace_is_killed_and_recovered(qcluster, tmp_path, manage):
    """The post hook ignores SIGTERM and hangs (the first time): the worker gives up after
    BORGUI_STOP_GRACE_SECONDS and kills every process below it, the hook too; the next
    worker finishes the run."""
    plan = make_plan(
        "slow", [make_repository(tmp_path / "repo")], [make_source_tree(tmp_path / "big", **SLOW_TREE)],
        compression=SLOW_COMPRESSION,
    )  # fmt: skip
    hung = tmp_path / "post-hung"
    body = f'#!/bin/sh\n[ -e "{hung}" ] && exit 0\ntouch "{hung}"\ntrap "" TERM\nsleep 4326\n'
    attach(plan, make_script("hangs-once", body), "post-backup")
    cluster = qcluster(BORGUI_STOP_GRACE_SECONDS="3")
    run = queue_and_wait_for_borg_create(plan, tmp_path)
    seconds = _stop_and_time(cluster.process, lambda: os.killpg(cluster.process.pid, signal.SIGTERM))
    print(f"\nstop with a post hook that ignores SIGTERM: exited in {seconds:.1f} s (grace 3 s)")
    assert hung.exists() and "not stopped after 3 s, killing its processes" in cluster.log()
    assert not _pids("sleep 4326"), "killed although it ignores SIGTERM"

    qcluster()
    wait_for(lambda: PlanRun.objects.get(pk=run.pk).finished is not None, 60, "the next worker to recover the run")
    run.refresh_from_db()
    assert (run.status, run.reason, run.jobs.get().post_done) == ("failure", "interrupted", True)
    result = manage("run_backup", "slow")
    assert result.returncode == 0, result.stdout + result.stderr


def _pids(pattern: str) -> list[str]:
    return subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout.split()
