"""Schedules accept cron's aliases, name the field that is wrong, and show their next runs
(docs/configuration.md#validation, docs/running-plans.md#schedules)."""

import html
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone
from django_q.models import Schedule

from maintenance.models import PlanMaintenance, RepositoryMaintenance
from repositories.models import BackupPlan
from repositories.services.scheduling import next_slot, schedule_name
from repositories.validators import cron_problem
from tests.adminkit import form_data
from tests.factories import make_plan, make_repository

ALIASES = ["@hourly", "@daily", "@weekly", "@monthly", "@yearly"]


@pytest.mark.parametrize(
    ("cron", "problem"),
    [
        ("61 25 * * *", "minute 61 is out of range 0–59"),
        ("0 25 * * *", "hour 25 is out of range 0–23"),
        ("0 3 0 * *", "day of month 0 is out of range 1–31"),
        ("0 3 * 13 *", "month 13 is out of range 1–12"),
        ("0 3 * * 8", "day of week 8 is out of range 0–7"),
        ("0-70 3 * * *", "minute 70 is out of range 0–59"),
        ("*/0 * * * *", "minute '*/0': a step of 0 never advances"),
        ("x 3 * * *", "minute 'x' is not a number"),
        ("0 3 * *", "'0 3 * *' has 4 fields"),
        ("0 0 3 * * *", "'0 0 3 * * *' has 6 fields"),
        ("@reboot", "'@reboot' is not a cron alias"),
    ],
)
def test_a_bad_schedule_says_what_is_wrong(cron, problem):
    assert cron_problem(cron).startswith(problem + ". ")


@pytest.mark.parametrize("cron", [*ALIASES, "30 2 * * *", "*/15 0-6/2 1,15 jan-mar mon-fri", "0 3 * * 7"])
def test_good_schedules_have_no_problem(cron):
    assert cron_problem(cron) is None


@pytest.mark.parametrize(
    ("cron", "after", "first"),
    [
        ("@hourly", datetime(2026, 5, 1, 10, 20), datetime(2026, 5, 1, 11, 0)),
        ("@daily", datetime(2026, 5, 1, 10, 20), datetime(2026, 5, 2, 0, 0)),
        ("@weekly", datetime(2026, 5, 1, 10, 20), datetime(2026, 5, 3, 0, 0)),  # a Sunday
        ("@monthly", datetime(2026, 5, 1, 10, 20), datetime(2026, 6, 1, 0, 0)),
        ("@yearly", datetime(2026, 5, 1, 10, 20), datetime(2027, 1, 1, 0, 0)),
    ],
)
def test_aliases_fire_in_the_plans_zone(cron, after, first):
    zone = ZoneInfo("Europe/Berlin")
    plan = BackupPlan(schedule=cron, timezone="Europe/Berlin")
    assert next_slot(plan, after.replace(tzinfo=zone).astimezone(UTC)) == first.replace(tzinfo=zone)


def _plan_form(client, plan, **changes) -> dict:
    url = reverse("admin:repositories_backupplan_change", args=[plan.pk])
    return url, {**form_data(client, url), **changes}


@pytest.mark.django_db
def test_the_plan_form_arms_an_alias_and_shows_the_next_three_runs(admin_client, tmp_path):
    repository = make_repository(tmp_path / "repo", init=False)
    plan = make_plan("nightly", [repository], ["/srv"])
    url, data = _plan_form(admin_client, plan, schedule="@daily", timezone="Asia/Tokyo")
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    plan.refresh_from_db()
    assert plan.schedule == "@daily"
    armed = Schedule.objects.get(name=schedule_name(plan))
    tokyo = timezone.now().astimezone(ZoneInfo("Asia/Tokyo"))
    midnight = (tokyo + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    assert armed.next_run == midnight

    text = html.unescape(admin_client.get(url).content.decode())
    shown = re.search(r"Next runs: ([^<]*)\.", text)
    assert shown, text
    days = [midnight + timedelta(days=n) for n in range(3)]
    assert shown[1] == ", ".join(day.strftime("%Y-%m-%d 00:00:00 JST") for day in days)


@pytest.mark.django_db
def test_the_plan_form_names_the_bad_field_and_keeps_the_old_schedule(admin_client, tmp_path):
    repository = make_repository(tmp_path / "repo", init=False)
    plan = make_plan("nightly", [repository], ["/srv"], schedule="30 2 * * *")
    url, data = _plan_form(admin_client, plan, schedule="61 25 * * *")
    response = admin_client.post(url, data)
    assert response.status_code == 200
    assert "minute 61 is out of range 0–59." in html.unescape(response.content.decode())
    plan.refresh_from_db()
    assert plan.schedule == "30 2 * * *"

    url, data = _plan_form(admin_client, plan, schedule="0 0 31 2 *")
    response = admin_client.post(url, data)
    assert "'0 0 31 2 *': this schedule never runs." in html.unescape(response.content.decode())


@pytest.mark.django_db(transaction=True)  # maintenance schedules are armed on commit
def test_maintenance_schedules_take_aliases_through_the_repository_form(admin_client, tmp_path):
    repository = make_repository(tmp_path / "repo", init=False)
    url = reverse("admin:repositories_repository_change", args=[repository.pk])
    data = form_data(admin_client, url)
    prefix = next(key for key in data if key.endswith("-TOTAL_FORMS") and "maintenance" in key).split("-")[0]
    data.update({
        f"{prefix}-TOTAL_FORMS": "1", f"{prefix}-0-check_schedule": "@weekly",
        f"{prefix}-0-check_timezone": "Europe/Berlin", f"{prefix}-0-compact_schedule": "@monthly",
        f"{prefix}-0-compact_timezone": "", f"{prefix}-0-compact_after_prune": "on",
    })  # fmt: skip
    response = admin_client.post(url, data)
    assert response.status_code == 302, html.unescape(response.content.decode())[-4000:]
    settings = RepositoryMaintenance.objects.get(repository=repository)
    assert (settings.check_schedule, settings.compact_schedule) == ("@weekly", "@monthly")
    names = set(Schedule.objects.values_list("name", flat=True))
    assert {f"check:{repository.pk}", f"compact:{repository.pk}"} <= names
    page = html.unescape(admin_client.get(url).content.decode())
    assert re.search(r"Next runs: \d{4}-\d\d-\d\d 00:00:00 CE[S]?T, ", page), page

    data = form_data(admin_client, url)
    data[f"{prefix}-0-check_schedule"] = "0 24 * * *"
    response = admin_client.post(url, data)
    assert "hour 24 is out of range 0–23." in html.unescape(response.content.decode())


@pytest.mark.django_db(transaction=True)
def test_apply_config_takes_aliases_for_plans_and_maintenance(manage, tmp_path):
    config = tmp_path / "borgui.yaml"
    config.write_text(
        f"""\
repositories:
  - name: main
    path: {tmp_path}/repo
    encryption: none
    check: {{schedule: "@weekly"}}
plans:
  - name: nightly
    repositories: [main]
    sources: [/srv]
    schedule: "@hourly"
    verify: {{schedule: "@monthly", timezone: Asia/Tokyo}}
"""
    )
    result = manage("apply_config", str(config))
    assert result.returncode == 0, result.stderr
    plan = BackupPlan.objects.get(name="nightly")
    assert plan.schedule == "@hourly"
    assert RepositoryMaintenance.objects.get().check_schedule == "@weekly"
    assert PlanMaintenance.objects.get().verify_schedule == "@monthly"
    names = set(Schedule.objects.values_list("name", flat=True))
    assert {schedule_name(plan), f"verify:{plan.pk}", f"check:{plan.repositories.get().pk}"} <= names

    config.write_text(config.read_text().replace('"@hourly"', '"61 25 * * *"'))
    result = manage("apply_config", str(config))
    assert result.returncode == 2
    assert "plans[0].schedule: minute 61 is out of range 0–59." in result.stderr
    assert BackupPlan.objects.get(name="nightly").schedule == "@hourly"
