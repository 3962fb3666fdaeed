"""Locks (docs/archives.md, "Locks"): every borg call borgui starts on a repository goes
through the database leases; readers share, writers are exclusive, a waiting writer blocks
new readers, a dead holder's lease is free. With real borg: a restore beside a backup."""

import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from archives.models import RestoreJob
from archives.services import catalog, index
from repositories.models import LeaseMode, PlanRun, RepositoryHold
from repositories.services import leases
from tests.archivekit import create_archive
from tests.conftest import ROOT
from tests.factories import SLOW_COMPRESSION, SLOW_TREE, make_plan, make_repository, make_source_tree

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def repository(tmp_path):
    return make_repository(tmp_path / "repo", init=False)


def _in_thread(function):
    """Run FUNCTION in a thread with its own database connection; returns the thread."""

    def run():
        try:
            function()
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_readers_share_writers_are_exclusive(repository):
    with leases.hold(repository, LeaseMode.READ, "reader 1"), leases.hold(repository, LeaseMode.READ, "reader 2", 0):
        with pytest.raises(leases.RepositoryBusy):
            with leases.hold(repository, LeaseMode.WRITE, "writer", wait_seconds=0):
                pass
    with leases.hold(repository, LeaseMode.WRITE, "writer"):
        with pytest.raises(leases.RepositoryBusy, match="repository busy: writer running since"):
            with leases.hold(repository, LeaseMode.READ, "reader", wait_seconds=0):
                pass
    assert not RepositoryHold.objects.exists()


def test_a_waiting_writer_blocks_new_readers(repository):
    order = []
    with leases.hold(repository, LeaseMode.READ, "first reader"):
        writer = _in_thread(lambda: _hold_and_note(repository, LeaseMode.WRITE, "writer", order))
        deadline = time.monotonic() + 10
        while not RepositoryHold.objects.filter(description="writer", held=False).exists():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        with pytest.raises(leases.RepositoryBusy, match="writer waiting"):
            with leases.hold(repository, LeaseMode.READ, "late reader", wait_seconds=0):
                pass
    writer.join(10)
    assert order == ["writer"]


def _hold_and_note(repository, mode, description, order):
    with leases.hold(repository, mode, description, wait_seconds=10, poll=0.05):
        order.append(description)


def test_a_run_waits_for_a_reader_and_a_reader_for_a_run(repository, tmp_path):
    plan = make_plan("nightly", [repository], [tmp_path])
    run = PlanRun.objects.create(plan=plan, trigger="admin", status="running", started=timezone.now())
    with leases.hold(repository, LeaseMode.READ, "restore 1"):
        assert not leases.try_take(run, repository)
    assert leases.try_take(run, repository)
    with pytest.raises(leases.RepositoryBusy, match="plan nightly running since"):
        with leases.hold(repository, LeaseMode.READ, "download", wait_seconds=0):
            pass
    leases.release_all(run)


def test_a_dead_holders_lease_is_free(repository, settings):
    RepositoryHold.objects.create(
        repository=repository, mode=LeaseMode.WRITE, held=True, description="crashed",
        heartbeat=timezone.now() - timedelta(seconds=settings.BORGUI_STALE_AFTER_SECONDS + 5),
    )  # fmt: skip
    with leases.hold(repository, LeaseMode.READ, "reader", wait_seconds=0):
        assert list(RepositoryHold.objects.values_list("description", flat=True)) == ["reader"]


def test_a_restore_beside_a_backup_waits_and_both_succeed(subprocess_env, tmp_path):
    repository = make_repository(tmp_path / "repo")
    small = make_source_tree(tmp_path / "small", files=3)
    create_archive(repository, small, "before")
    catalog.refresh(repository)
    index.ensure(catalog.resolve(repository, "before", fresh=False))
    make_plan("slow", [repository], [make_source_tree(tmp_path / "big", **SLOW_TREE)], compression=SLOW_COMPRESSION)

    def start(*args):
        return subprocess.Popen(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=subprocess_env, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True,
        )  # fmt: skip

    backup = start("run_backup", "slow")
    deadline = time.monotonic() + 30
    while not PlanRun.objects.filter(status="running", jobs__status="running").exists():
        assert time.monotonic() < deadline and backup.poll() is None
        time.sleep(0.05)
    target = tmp_path / "restored"
    restore = start("restore", "--target", str(target), "main", "before")
    restore_out, restore_err = restore.communicate(timeout=180)
    backup_out, backup_err = backup.communicate(timeout=180)
    assert backup.returncode == 0 and backup_out.splitlines()[-1] == "status: success", backup_out + backup_err
    assert restore.returncode == 0, restore_out + restore_err
    assert restore_out.splitlines()[-1] == "status: success"
    assert "waiting: repository busy: plan slow running since" in restore_err
    assert sorted(p.name for p in target.iterdir()) == sorted(p.name for p in small.iterdir())
    job = RestoreJob.objects.get()
    run = PlanRun.objects.get()
    # the restore started borg only after the backup had given the repository back
    assert job.created >= run.finished
    assert "Failed to create/acquire the lock" not in restore_out + restore_err + run.log
