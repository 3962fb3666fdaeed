"""Maintenance and backups on one repository wait for each other (docs/maintenance.md),
with real borg in separate processes; never a failure on borg's own lock."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from maintenance.models import MaintenanceJob
from repositories.models import PlanRun
from tests.conftest import ROOT
from tests.factories import SLOW_COMPRESSION, SLOW_TREE, make_plan, make_repository, make_source_tree

pytestmark = pytest.mark.django_db(transaction=True)


def _start(env, *args):
    return subprocess.Popen(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip


def _wait_for(condition, what: str, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _borg_pids(*words: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        text = [a.decode(errors="replace") for a in argv]
        if any(a.endswith("borg") or "borg" in Path(a).name for a in text[:2]) and all(w in text for w in words):
            pids.append(int(entry.name))
    return pids


@pytest.fixture
def slow_plan(tmp_path):
    repository = make_repository(tmp_path / "repo")
    source = make_source_tree(tmp_path / "big", **SLOW_TREE)
    return make_plan("slow", [repository], [source], compression=SLOW_COMPRESSION)


def test_a_check_waits_for_a_backup(subprocess_env, slow_plan):
    backup = _start(subprocess_env, "run_backup", "slow")
    _wait_for(lambda: PlanRun.objects.filter(status="running", jobs__status="running").exists(), "the backup")
    check = _start(subprocess_env, "check_repository", "main")
    check_out, check_err = check.communicate(timeout=300)
    backup_out, backup_err = backup.communicate(timeout=300)
    assert backup.returncode == 0 and backup_out.splitlines()[-1] == "status: success", backup_out + backup_err
    assert check.returncode == 0, check_out + check_err
    assert "waiting: repository busy: plan slow running since" in check_out
    job = MaintenanceJob.objects.get()
    run = PlanRun.objects.get()
    assert job.status == "success" and job.finished > run.finished
    assert "Failed to create/acquire the lock" not in check_out + job.log + run.log


def test_a_backup_waits_for_a_check(subprocess_env, slow_plan, tmp_path):
    assert subprocess.run(
        [sys.executable, "manage.py", "run_backup", "slow"], cwd=ROOT, env=subprocess_env, capture_output=True
    ).returncode == 0  # fmt: skip
    check = _start(subprocess_env, "check_repository", "--verify-data", "main")
    location = str(tmp_path / "repo")
    _wait_for(lambda: _borg_pids("check", location), "borg check")
    paused = _borg_pids("check", location)
    for pid in paused:
        os.kill(pid, signal.SIGSTOP)  # holds the check (and its writer lease) as long as the test wants
    try:
        backup = _start(subprocess_env, "run_backup", "slow")
        _wait_for(lambda: PlanRun.objects.filter(status="waiting").exists(), "the backup to wait")
        assert MaintenanceJob.objects.get().status == "running"
    finally:
        for pid in paused:
            os.kill(pid, signal.SIGCONT)
    check_out, check_err = check.communicate(timeout=300)
    backup_out, backup_err = backup.communicate(timeout=300)
    assert check.returncode == 0, check_out + check_err
    assert backup.returncode == 0 and backup_out.splitlines()[-1] == "status: success", backup_out + backup_err
    run = PlanRun.objects.order_by("-id").first()
    assert "waiting for repository main" in run.log
    assert MaintenanceJob.objects.get().finished <= run.jobs.get().started
