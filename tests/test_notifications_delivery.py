"""Notifications through Apprise (docs/notifications.md): recorded when a run ends,
delivered by a real worker or by run_backup itself, every try recorded; a local HTTP
receiver stands in for the service."""

import pytest

from notifications.models import Channel, DeliveryAttempt, Event, WorkerHeartbeat
from repositories.models import PlanRun
from repositories.services import runs
from tests.factories import make_plan, make_repository, make_source_tree
from tests.harness.net import wait_for
from tests.hookkit import attach, make_script
from tests.notifykit import closed_port_url, json_channel

pytestmark = pytest.mark.django_db(transaction=True)
FAST_RETRIES = {"BORGUI_NOTIFY_RETRY_SECONDS": "0"}


@pytest.fixture
def plan(tmp_path):
    repository = make_repository(tmp_path / "repo", encryption="repokey-blake2")
    return make_plan("nightly", [repository], [make_source_tree(tmp_path / "src")])


def _attempts_of(channel: str) -> list[DeliveryAttempt]:
    return list(DeliveryAttempt.objects.filter(channel__name=channel).order_by("at", "id"))


def _failing_pre_hook(plan, leaked: str):
    # A hook that prints the repository's passphrase: its stored output holds it (hooks mask
    # only their own secret parameters), the notification must not.
    script = make_script(
        "check-db", f'#!/bin/sh\necho "connecting with {leaked}"\necho "database is down" >&2\nexit 3\n'
    )
    attach(plan, script, "pre-backup")


def test_a_worker_delivers_success_and_failure_with_the_masked_tail(plan, receiver, qcluster):
    json_channel(receiver, events=["success", "failure"])
    passphrase = plan.ordered_repositories()[0].passphrase
    qcluster(**FAST_RETRIES)
    first = runs.queue_run(plan)
    [success] = receiver.wait_for(1, timeout=60)
    _failing_pre_hook(plan, passphrase)
    wait_for(lambda: PlanRun.objects.get(pk=first.pk).finished, 10, "the first run to finish")
    runs.queue_run(plan)
    failure = receiver.wait_for(2, timeout=60)[1]

    assert success.json()["title"] == "borgui: nightly success"
    assert "main: success — archive nightly-" in success.json()["message"]
    body = failure.json()
    assert body["title"] == "borgui: nightly failure" and body["type"] == "failure"
    assert "Output of hook check-db (pre-backup): exit 3" in body["message"]
    assert "connecting with ***" in body["message"] and "database is down" in body["message"]
    assert passphrase not in failure.text and passphrase not in success.text
    attempts = wait_for(lambda: _attempts_of("ops")[1:] and _attempts_of("ops"), 10, "both attempt records")
    assert [(a.kind, a.ok, a.attempt) for a in attempts] == [("success", True, 1), ("failure", True, 1)]


def test_run_backup_without_a_worker_delivers_before_it_exits(plan, receiver, manage):
    json_channel(receiver, events=["start", "success"])
    WorkerHeartbeat.objects.all().delete()
    result = manage("run_backup", "nightly", env=FAST_RETRIES)
    assert result.returncode == 0, result.stderr
    # No waiting: both arrived while the command ran.
    assert [r.json()["title"] for r in receiver.received] == ["borgui: nightly start", "borgui: nightly success"]
    assert not Event.objects.filter(claimed__isnull=True).exists()


def test_a_channel_on_a_closed_port_changes_nothing_and_records_the_error(plan, manage):
    Channel.objects.create(name="down", url=closed_port_url(), events=["success"])
    WorkerHeartbeat.objects.all().delete()
    result = manage("run_backup", "nightly", env=FAST_RETRIES)
    assert result.returncode == 0 and result.stdout.splitlines()[-1] == "status: success"
    assert PlanRun.objects.get().status == "success"
    attempts = list(DeliveryAttempt.objects.filter(channel__name="down").order_by("attempt"))
    assert [a.attempt for a in attempts] == [1, 2, 3] and not any(a.ok for a in attempts)
    assert "Connection refused" in attempts[-1].error
    assert "127.0.0.1" not in attempts[-1].error  # every part of the URL is masked


def test_only_channels_that_want_the_event_and_the_plan_hear_of_it(plan, receiver, tmp_path, manage):
    other = make_plan("other", plan.ordered_repositories(), plan.sources)
    json_channel(receiver, name="failures-only", events=["failure"])
    scoped = json_channel(receiver, name="other-only", events=["success"], all_plans=False)
    scoped.plans.set([other])
    WorkerHeartbeat.objects.all().delete()
    assert manage("run_backup", "nightly", env=FAST_RETRIES).returncode == 0
    assert receiver.received == [] and not Event.objects.exists()
    assert manage("run_backup", "other", env=FAST_RETRIES).returncode == 0
    assert [r.json()["title"] for r in receiver.received] == ["borgui: other success"]


def test_a_running_worker_keeps_a_heartbeat_and_removes_it_when_it_stops(qcluster):
    cluster = qcluster()
    wait_for(lambda: WorkerHeartbeat.objects.exists(), 30, "the worker's heartbeat")
    cluster.stop()
    assert not WorkerHeartbeat.objects.exists()


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("file:///tmp/notes.txt", "acts on this machine"),
        ("windows://", "acts on this machine"),
        ("macosx://", "acts on this machine"),
        ("syslog://", "acts on this machine"),
        ("nosuchservice://x/y", "does not accept"),
        ("ntfy.sh/topic", "starts with a scheme"),
        ("json://a b", "no spaces"),
    ],
)
def test_channel_urls_that_reach_this_machine_or_nothing_are_refused(url, problem):
    from django.core.exceptions import ValidationError

    channel = Channel(name="x", url=url)
    with pytest.raises(ValidationError) as error:
        channel.full_clean()
    assert problem in str(error.value.message_dict["url"])


def test_notify_test_exits_0_when_delivered_and_2_with_apprises_reason(receiver, manage):
    json_channel(receiver, name="good")
    Channel.objects.create(name="bad", url=closed_port_url())
    good = manage("notify_test", "good")
    assert good.returncode == 0 and "delivered to good (json://…)" in good.stdout
    assert receiver.wait_for(1)[0].json()["title"] == "borgui: test notification"
    bad = manage("notify_test", "bad")
    assert bad.returncode == 2 and "Connection refused" in bad.stderr and "Traceback" not in bad.stderr
    missing = manage("notify_test", "nope")
    assert missing.returncode == 2 and "no notification channel named 'nope'" in missing.stderr


def test_a_borg_failure_carries_borgs_error_lines_and_the_link_to_the_run(tmp_path, receiver, manage):
    repository = make_repository(tmp_path / "nowhere", init=False)
    make_plan("nightly", [repository], [make_source_tree(tmp_path / "src")])
    json_channel(receiver, events=["failure"])
    WorkerHeartbeat.objects.all().delete()
    result = manage("run_backup", "nightly", env={**FAST_RETRIES, "BORGUI_BASE_URL": "https://backup.example/"})
    assert result.returncode == 2
    message = receiver.wait_for(1)[0].json()["message"]
    run = PlanRun.objects.get()
    assert "Output of borg create on main (exit 2)" in message and "does not exist" in message
    assert "Duration: " in message and "main: failure" in message
    assert message.splitlines()[-1] == f"https://backup.example/admin/repositories/planrun/{run.pk}/change/"


@pytest.mark.parametrize(("size", "shown"), [(0, "0 B"), (999, "999 B"), (1500, "1.5 kB"), (2_500_000_000, "2.5 GB")])
def test_sizes_are_shown_as_borg_shows_them(size, shown):
    from common.humanize import human_size

    assert human_size(size) == shown


@pytest.mark.parametrize(("seconds", "shown"), [(0, "0 s"), (65, "1 min 5 s"), (90061, "1 d 1 h")])
def test_durations_are_short(seconds, shown):
    from common.humanize import human_duration

    assert human_duration(seconds) == shown


def test_containers_left_stopped_are_told_once_with_dockers_reason(docker_host, tmp_path, receiver):
    mount = tmp_path / "db-data"
    mount.mkdir()
    docker_host.run_container("db", "--mount", f"type=bind,src={mount},dst=/data")
    source = make_source_tree(tmp_path / "src")
    plan = make_plan("nightly", [make_repository(tmp_path / "repo")], [source], stop_containers=["db"])
    # The plan's last hook takes the container's data directory away: Docker refuses to start it.
    attach(plan, make_script("unmount", f'#!/bin/sh\nmv "{mount}" "{tmp_path}/away"\n'), "post-backup")
    json_channel(receiver, events=["containers"])
    WorkerHeartbeat.objects.all().delete()

    run = runs.run_in_foreground(plan)

    assert run.status == "success"
    [message] = [r.json() for r in receiver.wait_for(1)]
    assert message["title"] == "borgui: containers not started (nightly)" and message["type"] == "failure"
    assert "- db: " in message["message"] and "bind source path does not exist" in message["message"]
    assert Event.objects.filter(kind="containers").count() == 1
