"""The `restore` event (docs/notifications.md): a restore job's final status, told once to
the channels of the plans that use its repository, with a real restore by real borg and a
local HTTP receiver standing in for the service."""

from datetime import timedelta

import pytest
from django.utils import timezone

from archives.models import RestoreJob
from archives.services import restore
from notifications.models import Event
from notifications.services import delivery
from tests.archivekit import indexed_archive, make_awkward_tree
from tests.factories import make_plan, make_repository, make_source_tree
from tests.notifykit import json_channel

pytestmark = pytest.mark.django_db(transaction=True)
FAST_RETRIES = {"BORGUI_NOTIFY_RETRY_SECONDS": "0"}


@pytest.fixture
def archive(tmp_path):
    repository = make_repository(tmp_path / "repo", encryption="repokey-blake2")
    make_plan("nightly", [repository], [make_source_tree(tmp_path / "plan-src")])
    return indexed_archive(repository, make_awkward_tree(tmp_path / "src"), "a1")


def test_a_worker_delivers_a_finished_restore_with_its_summary(archive, receiver, qcluster, manage, tmp_path):
    json_channel(receiver, events=["restore"])
    target = tmp_path / "restored"
    result = manage("restore", "--target", str(target), "--", "main", "a1", "docs")
    assert result.returncode == 0, result.stdout + result.stderr
    job = RestoreJob.objects.get()
    event = Event.objects.get(kind="restore")
    assert event.restore_job == job and event.repository == archive.repository

    qcluster(**FAST_RETRIES)
    [received] = receiver.wait_for(1, timeout=60)
    body = received.json()
    assert body["title"] == "borgui: restore a1 success" and body["type"] == "info"
    message = body["message"]
    assert f"Restore {job.pk} of main::a1: success" in message
    assert "Paths: docs" in message and f"Target: {target} on " in message
    assert f"Restored: {job.files_total} of {job.files_total} files" in message and job.files_total > 0
    assert f"restore {job.pk} finished: success" in message  # the log's tail


def test_an_interrupted_restore_is_told_once_as_failure_with_the_log_masked(archive, receiver, tmp_path, settings):
    json_channel(receiver, events=["restore"])
    passphrase = archive.repository.passphrase
    job = restore.request(archive, ["run.sh"], target=str(tmp_path / "t"), admin_group=True)
    old = timezone.now() - timedelta(seconds=settings.BORGUI_STALE_AFTER_SECONDS + 5)
    RestoreJob.objects.filter(pk=job.pk).update(
        status="running", heartbeat=old, worker="gone:1", log=f"opening with {passphrase}\nextracting run.sh\n"
    )
    assert restore.recover_interrupted() == 1
    assert restore.recover_interrupted() == 0
    [event] = Event.objects.filter(kind="restore")
    delivery.deliver_event(event.pk)
    # A second report of the same job (an execute finishing late) records nothing more.
    restore.announce_finished([RestoreJob.objects.get(pk=job.pk)])
    assert Event.objects.filter(kind="restore").count() == 1

    [received] = receiver.wait_for(1)
    body = received.json()
    assert body["title"] == "borgui: restore a1 failure"
    assert f"Restore {job.pk} of main::a1: failure (interrupted: the worker running it stopped)" in body["message"]
    assert "opening with ***" in body["message"] and "extracting run.sh" in body["message"]
    assert passphrase not in received.text


def test_a_channel_of_another_plan_does_not_hear_of_the_restore(archive, receiver, tmp_path):
    other = make_plan("other", [make_repository(tmp_path / "other-repo", name="other")], [tmp_path])
    json_channel(receiver, name="theirs", events=["restore"], all_plans=False).plans.set([other])
    json_channel(receiver, name="ours", events=["restore"], all_plans=False).plans.set(
        [archive.repository.plan_links.get().plan]
    )
    job = restore.request(archive, ["run.sh"], target=str(tmp_path / "t"), admin_group=True)
    assert restore.execute(job) == "success"
    delivery.deliver_event(Event.objects.get(kind="restore").pk)
    assert [a.channel.name for a in Event.objects.get().attempts.all()] == ["ours"]
    assert (tmp_path / "t" / "run.sh").exists()
