"""Plan schedules: cron in the plan's own time zone, armed on django-q2 (docs/running-plans.md#schedules)."""

import time
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from django_q.models import Schedule

from repositories.models import BackupPlan, PlanRun
from repositories.services.scheduling import next_slot, rearm_missing, schedule_name
from tests.factories import make_plan, make_repository, make_source_tree


def test_next_slot_is_computed_in_the_plans_timezone():
    plan = BackupPlan(schedule="0 3 * * *", timezone="Europe/Berlin")
    after = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)  # the day before Berlin's switch to summer time
    assert next_slot(plan, after).astimezone(UTC) == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    assert next_slot(plan, datetime(2026, 3, 29, 2, 0, tzinfo=UTC)).astimezone(UTC) == datetime(
        2026, 3, 30, 1, 0, tzinfo=UTC
    )
    plan.timezone = ""
    assert next_slot(plan, after).astimezone(UTC) == datetime(2026, 3, 29, 3, 0, tzinfo=UTC)


@pytest.mark.django_db
def test_a_stored_schedule_that_never_runs_is_not_armed_and_breaks_nothing(tmp_path, admin_client):
    # Saved before such schedules were refused (31 February): croniter finds no next date.
    repository = make_repository(tmp_path / "repo", init=False)
    plan = make_plan("feb31", [repository], ["/srv"])
    BackupPlan.objects.filter(pk=plan.pk).update(schedule="0 0 31 2 *")
    plan.refresh_from_db()
    assert next_slot(plan, timezone.now()) is None
    plan.save()
    assert rearm_missing() == 1
    assert not Schedule.objects.filter(name=schedule_name(plan)).exists()
    page = admin_client.get("/admin/repositories/backupplan/")
    assert page.status_code == 200
    assert "never (this schedule never runs)" in page.content.decode()


@pytest.mark.django_db
def test_saving_a_plan_arms_updates_and_removes_its_schedule(tmp_path):
    repository = make_repository(tmp_path / "repo", init=False)
    plan = make_plan("nightly", [repository], ["/srv"], schedule="30 2 * * *", timezone="Asia/Tokyo")
    schedule = Schedule.objects.get(name=schedule_name(plan))
    assert schedule.next_run == next_slot(plan, timezone.now())
    assert schedule.next_run.astimezone(UTC).strftime("%H:%M") == "17:30"
    assert (schedule.schedule_type, schedule.repeats) == (Schedule.ONCE, 1)

    plan.schedule = "0 4 * * *"
    plan.save()
    assert Schedule.objects.get(name=schedule_name(plan)).next_run.astimezone(UTC).strftime("%H:%M") == "19:00"

    plan.enabled = False
    plan.save()
    assert not Schedule.objects.filter(name=schedule_name(plan)).exists()
    plan.enabled, plan.schedule = True, ""
    plan.save()
    assert not Schedule.objects.filter(name=schedule_name(plan)).exists()


@pytest.mark.django_db(transaction=True)
def test_a_missed_slot_fires_once_through_a_real_qcluster_and_rearms(qcluster, tmp_path):
    repository = make_repository(tmp_path / "repo")
    plan = make_plan(
        "nightly",
        [repository],
        [make_source_tree(tmp_path / "src")],
        schedule="0 3 * * *",
        timezone="Pacific/Kiritimati",
    )
    # The worker was down for three nights: the schedule's slot lies in the past.
    Schedule.objects.filter(name=schedule_name(plan)).update(next_run=timezone.now() - timedelta(days=3))
    cluster = qcluster()
    deadline = time.monotonic() + 90  # django-q2's scheduler looks every 30 s
    while time.monotonic() < deadline and not PlanRun.objects.filter(status="success").exists():
        time.sleep(0.5)
    time.sleep(2)
    runs = list(PlanRun.objects.all())
    assert [(run.trigger, run.status) for run in runs] == [("schedule", "success")], cluster.log()[-3000:]
    schedule = Schedule.objects.get(name=schedule_name(plan))
    assert schedule.repeats == 1
    assert schedule.next_run == next_slot(plan, timezone.now())
    assert schedule.next_run.astimezone(UTC).strftime("%H:%M") == "13:00"  # 03:00 at UTC+14
