"""/metrics (docs/notifications.md): Prometheus text, behind a bearer token, a fixed number
of queries whatever the history."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from notifications.services import metrics
from repositories.models import BackupPlan, PlanRun
from tests.factories import make_plan, make_repository, make_source_tree
from tests.hookkit import attach, make_script

TOKEN = "metrics-token-5c2e9"


def _scrape(client, token=TOKEN) -> dict:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return samples


@pytest.mark.django_db
def test_metrics_are_off_without_the_token_setting(client, settings):
    settings.BORGUI_METRICS_TOKEN = ""
    assert client.get("/metrics", headers={"Authorization": "Bearer anything"}).status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer"])
def test_a_missing_or_wrong_token_is_401(client, settings, authorization):
    settings.BORGUI_METRICS_TOKEN = TOKEN
    headers = {"Authorization": authorization} if authorization else {}
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Bearer")
    assert b"borgui_runs_total" not in response.content


@pytest.mark.django_db(transaction=True)
def test_values_after_a_success_and_a_failure(client, settings, manage, tmp_path):
    settings.BORGUI_METRICS_TOKEN = TOKEN
    repository = make_repository(tmp_path / "repo")
    plan = make_plan("nightly", [repository], [make_source_tree(tmp_path / "src")])
    assert manage("run_backup", "nightly").returncode == 0
    success = PlanRun.objects.get()
    attach(plan, make_script("check-db", "#!/bin/sh\nexit 3\n"), "pre-backup")
    assert manage("run_backup", "nightly").returncode == 2
    failure = PlanRun.objects.exclude(pk=success.pk).get()

    samples = _scrape(client)
    nightly = (("plan", "nightly"),)
    assert samples["borgui_runs_total", (("plan", "nightly"), ("status", "success"))] == 1
    assert samples["borgui_runs_total", (("plan", "nightly"), ("status", "failure"))] == 1
    assert samples["borgui_runs_total", (("plan", "nightly"), ("status", "warning"))] == 0
    assert samples["borgui_plan_last_run_status", (("plan", "nightly"), ("status", "failure"))] == 1
    assert samples["borgui_plan_last_run_status", (("plan", "nightly"), ("status", "success"))] == 0
    assert samples["borgui_plan_last_run_timestamp_seconds", nightly] == pytest.approx(failure.finished.timestamp())
    assert samples["borgui_plan_last_success_timestamp_seconds", nightly] == pytest.approx(success.finished.timestamp())
    duration = (failure.finished - failure.started).total_seconds()
    assert samples["borgui_plan_last_run_duration_seconds", nightly] == pytest.approx(duration)
    assert samples["borgui_hook_failures_total", (("script", "check-db"),)] == 1
    assert samples["borgui_runs_running", ()] == 0
    assert samples["borgui_containers_stopped", ()] == 0
    # The worker's minute recount gives the same values.
    metrics.refresh_all()
    assert _scrape(client) == samples


def _history(plan, count: int) -> None:
    now = timezone.now()
    statuses = ["success", "success", "warning", "failure", "skipped"]
    PlanRun.objects.bulk_create(
        (
            PlanRun(
                plan=plan,
                trigger="cli",
                status=statuses[i % len(statuses)],
                started=now - timedelta(minutes=count - i, seconds=30),
                finished=now - timedelta(minutes=count - i),
            )
            for i in range(count)
        ),
        batch_size=2000,
    )


@pytest.mark.django_db
def test_a_scrape_costs_the_same_queries_with_10_and_10000_runs(client, settings):
    settings.BORGUI_METRICS_TOKEN = TOKEN
    plan = BackupPlan.objects.create(name="nightly", sources=["/srv"])
    counts = {}
    for total in (10, 10_000):
        PlanRun.objects.all().delete()
        _history(plan, total)
        metrics.refresh_all()
        with CaptureQueriesContext(connection) as queries:
            samples = _scrape(client)
        counts[total] = len(queries)
        assert samples["borgui_runs_total", (("plan", "nightly"), ("status", "success"))] == total * 2 // 5
    assert counts[10] == counts[10_000] <= 3
