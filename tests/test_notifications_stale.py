"""Stale backups (docs/notifications.md): one `stale` event per episode, ended by the next
success or warning; checked by the worker's minute task."""

from datetime import timedelta

import pytest
from django.utils import timezone

from notifications.models import Event, PlanMonitoring
from notifications.services import delivery, stale
from repositories.models import BackupPlan, PlanRun
from tests.factories import make_plan, make_repository, make_source_tree
from tests.notifykit import json_channel

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def plan(tmp_path):
    repository = make_repository(tmp_path / "repo")
    plan = make_plan("nightly", [repository], [make_source_tree(tmp_path / "src")])
    BackupPlan.objects.filter(pk=plan.pk).update(created=timezone.now() - timedelta(hours=30))
    PlanMonitoring.objects.create(plan=plan, alert_after_hours=24)
    return plan


def _stale_events():
    return list(Event.objects.filter(kind="stale").order_by("id"))


def test_an_episode_fires_once_and_ends_with_the_next_success(plan, receiver, manage):
    json_channel(receiver, events=["stale"])
    assert [m.plan for m in stale.check_stale_plans()] == [plan]
    assert stale.check_stale_plans() == [] and len(_stale_events()) == 1
    [event] = _stale_events()
    delivery.deliver_event(event.pk)
    message = receiver.wait_for(1)[0].json()
    assert message["title"] == "borgui: nightly stale"
    assert "no successful backup for 1 d 6 h (alert after 24 h)" in message["message"]
    assert "no successful run since the plan was created" in message["message"]
    assert PlanMonitoring.objects.get().stale_since is not None

    assert manage("run_backup", "nightly").returncode == 0
    assert stale.check_stale_plans() == []
    assert PlanMonitoring.objects.get().stale_since is None
    # A day and more later without a success: a new episode, a new event.
    assert len(stale.check_stale_plans(now=timezone.now() + timedelta(hours=25))) == 1
    assert len(_stale_events()) == 2


def test_a_warning_also_ends_an_episode_and_a_failure_does_not(plan):
    stale.check_stale_plans()
    now = timezone.now()
    PlanRun.objects.create(plan=plan, trigger="cli", status="failure", started=now, finished=now)
    stale.check_stale_plans()
    assert PlanMonitoring.objects.get().stale_since is not None
    PlanRun.objects.create(plan=plan, trigger="cli", status="warning", started=now, finished=now + timedelta(seconds=1))
    stale.check_stale_plans()
    assert PlanMonitoring.objects.get().stale_since is None


def test_disabled_plans_and_plans_without_the_setting_are_never_stale(plan, tmp_path):
    BackupPlan.objects.filter(pk=plan.pk).update(enabled=False)
    other = make_plan("weekly", plan.ordered_repositories(), ["/srv"])
    BackupPlan.objects.filter(pk=other.pk).update(created=timezone.now() - timedelta(days=30))
    assert stale.check_stale_plans() == []


def test_a_recent_success_keeps_the_plan_fresh(plan):
    now = timezone.now()
    PlanRun.objects.create(plan=plan, trigger="cli", status="success", started=now, finished=now - timedelta(hours=2))
    assert stale.check_stale_plans() == []


def test_the_workers_minute_task_opens_the_episode(plan, receiver):
    from repositories.services.recovery import recover_runs

    json_channel(receiver, events=["stale"])
    recover_runs()  # what the worker runs every minute (and at its start)
    assert len(_stale_events()) == 1 and PlanMonitoring.objects.get().stale_since is not None
