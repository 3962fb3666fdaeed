"""Restore jobs (docs/archives.md, "Restore") with real borg: the `restore` command in the
foreground, the target rules (symlinks resolved), dry run, strip_components, overwrite,
cancel, and a restore beside a backup."""

import os
import time

import pytest
from django.contrib.auth.models import Permission

from archives.models import RestoreJob
from archives.services import index, restore
from repositories.models import LeaseMode
from repositories.services import leases
from tests.archivekit import indexed_archive, make_awkward_tree
from tests.factories import make_repository

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def archive(tmp_path):
    repository = make_repository(tmp_path / "repo")
    source = make_awkward_tree(tmp_path / "src")
    found = indexed_archive(repository, source, "a1")
    return found, source


def snapshot(root):
    """Every path below ROOT with its type, mode, bytes or link target (bytes names kept)."""
    found = {}
    for directory, dirnames, filenames in os.walk(os.fsencode(root)):
        for name in dirnames + filenames:
            full = os.path.join(directory, name)
            st = os.lstat(full)
            if os.path.islink(full):
                content = os.readlink(full)
            elif os.path.isdir(full):
                content = None
            else:
                content = open(full, "rb").read()
            found[os.path.relpath(full, os.fsencode(root))] = (st.st_mode, content)
    return found


def _restore(manage, *args):
    return manage("restore", *args)


def test_whole_archive_byte_for_byte_with_modes(manage, archive, tmp_path):
    _, source = archive
    target = tmp_path / "restored"
    result = _restore(manage, "--target", str(target), "main", "latest")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == "status: success"
    assert snapshot(target) == snapshot(source)
    job = RestoreJob.objects.get()
    assert job.status == "success" and job.files_done == job.files_total and job.bytes_total > 0
    assert job.requested_from == "cli" and job.worker and job.finished


def test_chosen_paths_with_strip_components(manage, archive, tmp_path):
    _, source = archive
    target = tmp_path / "t"
    result = _restore(manage, "--target", str(target), "--strip-components", "1", "--", "main", "a1", "/docs/sub dir")
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(os.listdir(target)) == ["sub dir"]
    assert (target / "sub dir" / "-leading-dash").read_bytes() == (
        source / "docs" / "sub dir" / "-leading-dash"
    ).read_bytes()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--strip-components", "2", "--", "main", "a1", "docs/page.html"], "would strip the name"),
        (["--strip-components", "3", "--", "main", "a1", "docs/sub dir"], "more than the depth"),
        (["--strip-components", "1", "--", "main", "a1", "docs/page.html", "ünïcødé/../x"], "does not exist"),
        (["--", "main", "a1", "no/such/path"], "does not exist"),
        (["--", "main", "a1", "caf?.txt"], "not UTF-8"),
    ],
)
def test_refusals_are_one_line_and_write_nothing(manage, archive, tmp_path, args, message):
    target = tmp_path / "t"
    result = _restore(manage, "--target", str(target), *args)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
    assert not target.exists() and not RestoreJob.objects.exists()


def test_two_paths_onto_one_destination_are_refused(archive):
    found, _ = archive
    with pytest.raises(restore.RestoreRefused, match="would land in one place"):
        restore.check_paths(index.ready_index(found), ["docs", "empty"], 1)


def test_target_rules(manage, archive, tmp_path, settings):
    found, _ = archive
    nonempty = tmp_path / "nonempty"
    nonempty.mkdir()
    (nonempty / "keep.txt").write_text("mine")
    before = snapshot(nonempty)
    refused = _restore(manage, "--target", str(nonempty), "main", "a1", "run.sh")
    assert refused.returncode == 2 and "is not empty" in refused.stderr
    assert snapshot(nonempty) == before
    # inside the data directory, or a local repository, also through a symlink
    os.symlink(settings.DATA_DIR, tmp_path / "sneaky")
    for target in (str(settings.DATA_DIR) + "/x", str(tmp_path / "sneaky" / "x"), str(tmp_path / "repo" / "data"), "/"):
        result = _restore(manage, "--target", target, "main", "a1", "run.sh")
        assert result.returncode == 2, target
    assert not (settings.DATA_DIR / "x").exists()
    # the admin's targets lie under BORGUI_RESTORE_ROOTS unless in the admin group
    settings.BORGUI_RESTORE_ROOTS = [tmp_path / "roots"]
    with pytest.raises(restore.RestoreRefused, match="not under a restore root"):
        restore.request(found, ["run.sh"], target=str(tmp_path / "elsewhere"))
    job = restore.request(found, ["run.sh"], target=str(tmp_path / "roots" / "new"))
    assert job.target == str(tmp_path / "roots" / "new")


def test_dry_run_lists_and_writes_nothing(manage, archive, tmp_path):
    target = tmp_path / "t"
    result = _restore(manage, "--target", str(target), "--dry-run", "main", "a1", "docs")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "would restore: docs/report 2024.txt" in result.stdout
    assert not target.exists()


def test_overwrite_replaces_files_keeps_others_and_never_writes_through_a_symlink(manage, archive, tmp_path):
    _, source = archive
    target, elsewhere = tmp_path / "t", tmp_path / "elsewhere"
    target.mkdir()
    elsewhere.mkdir()
    (target / "run.sh").write_text("old")
    (target / "mine.txt").write_text("mine")
    os.symlink(elsewhere, target / "docs")
    result = _restore(manage, "--target", str(target), "--overwrite", "main", "a1")
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == "status: warning"
    assert "skipped docs: a symlink already in the target" in result.stdout
    assert (target / "run.sh").read_bytes() == (source / "run.sh").read_bytes()
    assert (target / "mine.txt").read_text() == "mine"
    assert os.listdir(elsewhere) == []


def test_cancel_of_a_restore_waiting_for_the_repository(archive, tmp_path):
    """A writer holds the repository; the restore waits, and its cancel ends it as failure."""
    import threading

    from django.db import connection

    found, _ = archive
    target = tmp_path / "t"
    job = restore.request(found, [], target=str(target), admin_group=True)
    with leases.hold(found.repository, LeaseMode.WRITE, "test writer"):

        def execute():
            try:
                restore.execute(job)
            finally:
                connection.close()

        worker = threading.Thread(target=execute)
        worker.start()
        deadline = time.monotonic() + 30
        while not RestoreJob.objects.filter(log__contains="waiting: repository busy").exists():
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert restore.request_cancel(job)
        worker.join(30)
    job.refresh_from_db()
    assert (job.status, job.reason) == ("failure", "cancelled")
    assert "waiting: repository busy: test writer running since" in job.log
    assert not target.exists()


def test_a_restore_whose_worker_died_is_finished_as_interrupted(archive, tmp_path, settings):
    from datetime import timedelta

    from django.utils import timezone

    found, _ = archive
    job = restore.request(found, [], target=str(tmp_path / "t"), admin_group=True)
    old = timezone.now() - timedelta(seconds=settings.BORGUI_STALE_AFTER_SECONDS + 5)
    RestoreJob.objects.filter(pk=job.pk).update(status="running", heartbeat=old, worker="gone:1")
    assert restore.recover_interrupted() == 1
    job.refresh_from_db()
    assert (job.status, job.reason) == ("failure", "interrupted: the worker running it stopped")


def test_only_the_restore_anywhere_permission_chooses_a_target_outside_the_roots(django_user_model):
    from django.contrib.auth.models import Group

    operator = django_user_model.objects.create_user("op", is_staff=True)
    operator.groups.add(Group.objects.get(name="operator"))
    boss = django_user_model.objects.create_user("boss", is_staff=True)
    boss.groups.add(Group.objects.get(name="admin"))
    renamed = Group.objects.create(name="backup-admins")  # a group of another name with the permission
    renamed.permissions.add(Permission.objects.get(codename="restore_anywhere"))
    other = django_user_model.objects.create_user("other", is_staff=True)
    other.groups.add(renamed)
    assert not restore.may_choose_any_target(operator)
    assert restore.may_choose_any_target(boss) and restore.may_choose_any_target(other)
