"""borg's warning lines are the reason of a warning, on the run page and in notifications
(docs/running-plans.md#statuses); real borg, a real command and a local HTTP receiver."""

import html

import pytest
from django.urls import reverse

from notifications.models import WorkerHeartbeat
from repositories.borg import BorgResult
from repositories.models import PlanRun
from repositories.services import runs
from tests.factories import make_plan, make_repository, make_source_tree
from tests.notifykit import json_channel

pytestmark = pytest.mark.django_db(transaction=True)
PASSPHRASE = "warn-reason-passphrase-6d"


@pytest.fixture
def plan_with_a_missing_source(tmp_path):
    repository = make_repository(tmp_path / "repo", encryption="repokey-blake2", passphrase=PASSPHRASE)
    missing = tmp_path / "gone"
    return make_plan("nightly", [repository], [make_source_tree(tmp_path / "src"), str(missing)]), missing


def test_a_missing_source_path_is_the_reason_of_the_warning(plan_with_a_missing_source, admin_client):
    plan, missing = plan_with_a_missing_source
    run = runs.run_in_foreground(plan)
    assert run.status == "warning"
    [job] = run.jobs.all()
    assert job.borg_exit_code == 1 and job.archive_name
    expected = f"{missing}: [Errno 2] No such file or directory: '{missing.name}'"
    assert job.reason == expected
    assert run.reason == f"main: {expected}"
    assert f"main: {expected}" in run.log

    page = html.unescape(admin_client.get(reverse("admin:repositories_planrun_change", args=[run.pk])).content.decode())
    assert expected in page
    listing = html.unescape(admin_client.get(reverse("admin:repositories_planrun_changelist")).content.decode())
    assert expected in listing


def test_run_backup_sends_the_warning_lines_in_the_notification(plan_with_a_missing_source, receiver, manage):
    plan, missing = plan_with_a_missing_source
    json_channel(receiver, events=["warning"])
    WorkerHeartbeat.objects.all().delete()  # no worker: run_backup delivers before it exits
    result = manage("run_backup", "nightly", env={"BORGUI_NOTIFY_RETRY_SECONDS": "0"})
    assert result.returncode == 1 and result.stdout.splitlines()[-1] == "status: warning", result.stdout
    [message] = receiver.received
    body = message.json()
    assert body["title"] == "borgui: nightly warning"
    reason = f"{missing}: [Errno 2] No such file or directory: '{missing.name}'"
    assert f"Plan nightly: warning (main: {reason})" in body["message"]
    assert "main: warning — archive nightly-" in body["message"] and body["message"].count(reason) >= 2
    assert PlanRun.objects.get().reason == f"main: {reason}"
    assert PASSPHRASE not in message.text


def test_many_warnings_make_one_bounded_line():
    result = BorgResult(exit_code=1)
    result.warnings = [f"/srv/file-{n}: [Errno 13] Permission denied" for n in range(20)]
    line = result.warning_line(limit=120)
    assert len(line) == 120 and line.endswith("…")
    assert line.startswith("/srv/file-0: [Errno 13] Permission denied; /srv/file-1: ")
