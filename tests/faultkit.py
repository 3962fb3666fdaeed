"""Helpers for the fault suite (docs/reliability.md): freeze a child at the moment a test
wants, and the four things every fault must leave true."""

import os
import random
import signal
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

from archives.models import RestoreJob
from maintenance.models import MaintenanceJob
from repositories import borg
from repositories.models import ContainerStop, LeaseMode, PlanRun
from repositories.services import leases, runs
from repositories.status import Status
from tests.archivekit import create_archive
from tests.factories import make_repository, make_source_tree
from tests.harness.net import wait_for

EARLIER = "before-the-fault"  # the archive every case makes before its fault, and checks after it


def repository_with_an_earlier_archive(path: Path, scratch: Path):
    """A repository at PATH holding the archive EARLIER (of a small tree made under SCRATCH)."""
    repository = make_repository(path)
    create_archive(repository, make_source_tree(scratch / "earlier"), EARLIER)
    return repository


# A hook that sleeps the first time it runs only: recovery runs an unfinished post chain
# again, and must not hang on it.
# SECONDS is the test's own number, so pgrep never finds another test's sleep.
SLEEP_ONCE = """#!/bin/sh
if [ ! -e "{marker}" ]; then touch "{marker}"; exec sleep {seconds}; fi
"""


def sleep_once(marker: Path) -> tuple[str, int]:
    """The body of a hook that sleeps on its first run, and the length of its sleep."""
    seconds = random.randint(100_000, 999_999)
    return SLEEP_ONCE.format(marker=marker, seconds=seconds), seconds


def pids(pattern: str) -> list[int]:
    out = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout
    return [int(pid) for pid in out.split()]


def borg_pid(command: str, location, locked: Path | None = None, timeout: float = 60) -> int:
    """The pid of `borg COMMAND … LOCATION …` once it runs. With LOCKED (the repository's
    directory), borg is returned stopped (SIGSTOP) while it holds the repository lock: it is
    let run in slices of 10 ms until the lock is there, so even a borg that holds it for a
    fraction of a second on a busy machine is caught."""
    pid = wait_for(lambda: next(iter(pids(f"borg .* {command} .*{location}")), None), timeout, f"borg {command}")
    if locked is None:
        return pid
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        os.kill(pid, signal.SIGSTOP)
        if (locked / "lock.exclusive").exists():
            return pid
        os.kill(pid, signal.SIGCONT)
        time.sleep(0.01)
    raise TimeoutError(f"borg {command} did not take the lock of {locked} in {timeout:.0f}s")


@contextmanager
def frozen(pid: int):
    """SIGSTOP PID for the block, SIGCONT after: what it is doing stays half done, however
    fast it would have finished, while the test kills its parent."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield pid
    finally:
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass


def nothing_active() -> list[str]:
    """Runs, restores and maintenance jobs still pending, waiting or running."""
    active = Status.active_values()
    found = [f"run {r.pk} {r.status}" for r in PlanRun.objects.filter(status__in=active)]
    found += [f"restore {j.pk} {j.status}" for j in RestoreJob.objects.filter(status__in=["pending", "running"])]
    found += [f"maintenance {j.pk} {j.status}" for j in MaintenanceJob.objects.filter(status__in=active)]
    return found


def archive_names(repository) -> list[str]:
    result = borg.run(repository, ["list", "--short", "--", repository.location])
    assert result.ok, result.log_lines
    return result.stdout.split()


def assert_survived(plan, repositories, docker=None, containers=(), archives_before=(EARLIER,)) -> PlanRun:
    """No container left stopped, no run stuck, no lease held, the repository usable by the
    next backup without a break-lock, nothing lost. Returns that next backup's run."""
    if docker is not None:
        states = {name: docker.state(name) for name in containers}
        assert states == dict.fromkeys(containers, "running"), states
    not_started = ContainerStop.objects.filter(stopped_at__isnull=False, started_at__isnull=True)
    assert not not_started.exists(), "a container stopped and never started again"
    assert nothing_active() == []
    for repository in repositories:
        assert leases.busy_reason(repository, LeaseMode.WRITE) == "", repository.name
    started = time.monotonic()
    after = runs.run_in_foreground(plan)
    assert after.status == "success", after.log
    assert "break-lock" not in after.log
    for repository in repositories:
        names = archive_names(repository)
        assert set(archives_before) <= set(names), names
        check = borg.check(repository)
        assert check.ok, check.log_lines
    after.seconds_to_back_up = time.monotonic() - started
    return after
