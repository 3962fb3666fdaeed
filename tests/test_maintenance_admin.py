"""The admin of maintenance (docs/maintenance.md): schedules on the repository and plan
pages, Check now / Compact now / Verify now queued on the worker and followed, history with
sizes, cancel, permissions, query counts."""

import time

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from hooks.models import Script, ScriptParameter
from maintenance.models import MaintenanceJob, PlanMaintenance, RepositoryMaintenance
from tests.adminkit import count_changelist_queries, form_data
from tests.factories import make_plan, make_repository, make_source_tree

pytestmark = pytest.mark.django_db


@pytest.fixture
def repository(tmp_path):
    return make_repository(tmp_path / "repo", init=False)


def _start(client, kind, pk):
    return client.post(reverse("admin:maintenance_maintenancejob_start", args=[kind, pk]))


def test_repository_page_has_the_buttons_and_the_schedules(client, admin, repository):
    client.force_login(admin)
    page = client.get(reverse("admin:repositories_repository_change", args=[repository.pk])).content.decode()
    assert 'id="check-now"' in page and 'id="compact-now"' in page and 'id="maintenance-history"' in page
    data = form_data(client, reverse("admin:repositories_repository_change", args=[repository.pk]))
    data.update({
        "maintenance-0-check_schedule": "0 3 * * 0", "maintenance-0-check_timezone": "Europe/Berlin",
        "maintenance-0-check_max_duration": "600", "maintenance-0-compact_schedule": "0 4 * * *",
        "maintenance-TOTAL_FORMS": "1",
    })  # fmt: skip
    data.pop("maintenance-0-compact_after_prune", None)
    response = client.post(reverse("admin:repositories_repository_change", args=[repository.pk]), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    settings = RepositoryMaintenance.objects.get(repository=repository)
    assert (settings.check_schedule, settings.check_max_duration, settings.compact_after_prune) == (
        "0 3 * * 0", 600, False,
    )  # fmt: skip


def test_verify_data_with_max_duration_is_refused_on_the_page(client, admin, repository):
    client.force_login(admin)
    url = reverse("admin:repositories_repository_change", args=[repository.pk])
    data = form_data(client, url)
    data.update({"maintenance-0-check_verify_data": "on", "maintenance-0-check_max_duration": "60"})
    response = client.post(url, data)
    assert response.status_code == 200 and "not with verify_data" in response.content.decode()
    assert not RepositoryMaintenance.objects.exists()


def test_check_now_queues_a_job_and_the_page_follows_it(client, admin, repository):
    client.force_login(admin)
    RepositoryMaintenance.objects.create(repository=repository, check_verify_data=True)
    response = _start(client, "check", repository.pk)
    job = MaintenanceJob.objects.get()
    assert response.status_code == 302 and response.url == reverse(
        "admin:maintenance_maintenancejob_change", args=[job.pk]
    )
    assert (job.kind, job.status, job.trigger, job.requested_by) == ("check", "pending", "admin", "admin")
    assert job.options == {"verify_data": True, "max_duration": None}
    page = client.get(response.url).content.decode()
    assert 'http-equiv="refresh"' in page and 'id="cancel-job"' in page
    again = _start(client, "check", repository.pk)  # never two at once
    assert again.status_code == 302 and MaintenanceJob.objects.count() == 1
    client.post(reverse("admin:maintenance_maintenancejob_cancel", args=[job.pk]))
    job.refresh_from_db()
    assert (job.status, job.reason) == ("failure", "cancelled")
    assert 'http-equiv="refresh"' not in client.get(response.url).content.decode()


def test_the_history_shows_sizes_before_and_after_compact(client, admin, repository):
    MaintenanceJob.objects.create(
        kind="compact", target=f"repository:{repository.pk}", repository=repository, trigger="cli",
        status="success", size_before=5_300_000, size_after=1_200_000,
    )  # fmt: skip
    client.force_login(admin)
    page = client.get(reverse("admin:repositories_repository_change", args=[repository.pk])).content.decode()
    assert "5.3 MB" in page and "1.2 MB" in page


def test_staff_without_the_permission_cannot_start_or_cancel(client, staff, repository):
    staff.user_permissions.add(*Permission.objects.filter(codename__in=["view_repository", "change_repository"]))
    client.force_login(staff)
    page = client.get(reverse("admin:repositories_repository_change", args=[repository.pk])).content.decode()
    assert 'id="check-now"' not in page
    assert _start(client, "check", repository.pk).status_code == 403
    assert not MaintenanceJob.objects.exists()


def test_an_operator_checks_but_only_the_admin_compacts(client, django_user_model, repository):
    from django.contrib.auth.models import Group

    operator = django_user_model.objects.create_user("op", is_staff=True)
    operator.groups.add(Group.objects.get(name="operator"))
    client.force_login(operator)
    page = client.get(reverse("admin:repositories_repository_change", args=[repository.pk])).content.decode()
    assert 'id="check-now"' in page and 'id="compact-now"' not in page
    assert _start(client, "compact", repository.pk).status_code == 403
    assert not MaintenanceJob.objects.exists()
    assert _start(client, "check", repository.pk).status_code == 302
    assert list(MaintenanceJob.objects.values_list("kind", flat=True)) == ["check"]


def test_unknown_kind_or_owner_is_404(client, admin, repository):
    client.force_login(admin)
    assert _start(client, "defrag", repository.pk).status_code == 404
    assert _start(client, "verify", 999).status_code == 404


def test_plan_page_saves_verify_and_drill_settings_and_keeps_secret_values(client, admin, repository, tmp_path):
    script = Script.objects.create(name="drill", body="#!/bin/sh\nexit 0\n")
    ScriptParameter.objects.create(script=script, name="CHECK_SQL")
    ScriptParameter.objects.create(script=script, name="DB_PASSWORD", secret=True)
    plan = make_plan("nightly", [repository], [tmp_path])
    client.force_login(admin)
    url = reverse("admin:repositories_backupplan_change", args=[plan.pk])
    page = client.get(url).content.decode()
    assert 'id="verify-now"' in page and 'id="drill-now"' in page
    data = form_data(client, url)
    data.update({
        "maintenance-0-verify_schedule": "15 6 * * *", "maintenance-0-sample_percent": "10",
        "maintenance-0-count_tolerance_percent": "5", "maintenance-0-drill_script": str(script.pk),
        "maintenance-0-drill_paths": '["srv/dumps"]', "maintenance-TOTAL_FORMS": "1",
        "maintenance-0-drill_parameters": "CHECK_SQL=SELECT 1\nDB_PASSWORD=hunter2-secret",
    })  # fmt: skip
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    settings = PlanMaintenance.objects.get(plan=plan)
    assert settings.drill_values() == {"CHECK_SQL": "SELECT 1", "DB_PASSWORD": "hunter2-secret"}
    page = client.get(url).content.decode()
    assert "hunter2-secret" not in page and "CHECK_SQL=SELECT 1" in page
    data = form_data(client, url)
    response = client.post(url, data)  # saved again without the secret: it is kept
    assert response.status_code == 302
    settings.refresh_from_db()
    assert settings.drill_values()["DB_PASSWORD"] == "hunter2-secret"
    assert _start(client, "verify", plan.pk).status_code == 302
    job = MaintenanceJob.objects.get()
    assert job.plan == plan and job.options == {"sample_percent": 10.0, "count_tolerance_percent": 5.0}


def test_job_list_queries_do_not_grow_with_rows(client, admin, repository):
    client.force_login(admin)
    url = reverse("admin:maintenance_maintenancejob_changelist")

    def add(count):
        for _ in range(count):
            MaintenanceJob.objects.create(kind="check", target="x", repository=repository, trigger="cli")

    add(2)
    few = count_changelist_queries(client, url, 2)
    add(20)
    assert count_changelist_queries(client, url, 22) == few


@pytest.mark.django_db(transaction=True)
def test_a_queued_check_runs_on_a_real_worker(client, admin, qcluster, tmp_path):
    repository = make_repository(tmp_path / "real")
    make_source_tree(tmp_path / "src")
    client.force_login(admin)
    qcluster()
    response = _start(client, "check", repository.pk)
    job = MaintenanceJob.objects.get()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.status == "success":
            break
        time.sleep(0.3)
    assert job.status == "success" and job.worker
    page = client.get(response.url).content.decode()
    assert 'http-equiv="refresh"' not in page and "no problems found" in page
