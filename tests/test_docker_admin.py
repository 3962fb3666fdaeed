"""Docker in the admin: the plan's container list, the run's stopped containers, and the
ready templates restored from the script list."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from hooks.models import Script
from repositories.models import BackupPlan, ContainerStop, PlanRun
from tests.factories import make_plan, make_repository

pytestmark = pytest.mark.django_db


def test_recreate_templates_restores_a_deleted_and_an_edited_template(admin, client):
    # the four Docker templates and postgres-restore-drill (docs/maintenance.md)
    assert Script.objects.filter(is_template=True).count() == 5, "the data migrations ship five templates"
    Script.objects.get(name="docker-start-container").delete()
    edited = Script.objects.get(name="docker-stop-container")
    edited.body += "# local change\n"
    edited.save()
    client.force_login(admin)
    page = client.get(reverse("admin:hooks_script_changelist")).content.decode()
    assert 'id="recreate-templates"' in page
    response = client.post(reverse("admin:hooks_script_recreate_templates"), follow=True)
    message = str(list(response.context["messages"])[0])
    assert message.startswith("3 template(s) unchanged; ")
    assert "docker-start-container" in message and "docker-stop-container" in message
    assert Script.objects.get(name="docker-stop-container").is_approved
    assert "# local change" not in Script.objects.get(name="docker-stop-container").body
    assert Script.objects.filter(name="docker-start-container", is_template=True).exists()


def test_recreate_templates_needs_add_and_approve_rights(staff, client):
    staff.user_permissions.add(*Permission.objects.filter(codename__in=["view_script", "add_script"]))
    client.force_login(staff)
    assert 'id="recreate-templates"' not in client.get(reverse("admin:hooks_script_changelist")).content.decode()
    assert client.post(reverse("admin:hooks_script_recreate_templates")).status_code == 403


def test_plan_form_takes_containers_one_per_line_and_refuses_bad_selectors(admin, client, tmp_path):
    repository = make_repository(tmp_path / "repo", init=False)
    plan = make_plan("nightly", [repository], ["/srv"])
    client.force_login(admin)
    url = reverse("admin:repositories_backupplan_change", args=[plan.pk])
    form = {
        "name": "nightly", "enabled": "on", "sources": "/srv", "excludes": "", "compression": "lz4",
        "archive_name": "{plan}-{now}", "schedule": "", "timezone": "", "on_repository_failure": "continue",
        "repository_links-TOTAL_FORMS": "1", "repository_links-INITIAL_FORMS": "1",
        "repository_links-MIN_NUM_FORMS": "0", "repository_links-MAX_NUM_FORMS": "1000",
        "repository_links-0-id": str(plan.repository_links.get().pk), "repository_links-0-plan": str(plan.pk),
        "repository_links-0-order": "0", "repository_links-0-repository": str(repository.pk),
    }  # fmt: skip
    form["stop_containers"] = "postgres\nlabel:borgui.stop-during-backup=true\n"
    response = client.post(url, form)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert BackupPlan.objects.get().stop_containers == ["postgres", "label:borgui.stop-during-backup=true"]
    form["stop_containers"] = "bad name; rm -rf /"
    response = client.post(url, form)
    assert response.status_code == 200
    assert BackupPlan.objects.get().stop_containers == ["postgres", "label:borgui.stop-during-backup=true"]


def test_run_page_lists_the_containers_it_stopped(admin, client, tmp_path):
    plan = make_plan("nightly", [make_repository(tmp_path / "repo", init=False)], ["/srv"])
    run = PlanRun.objects.create(plan=plan, trigger="admin", status="success")
    ContainerStop.objects.create(run=run, selector="postgres", container_id="abc123", name="postgres-1")
    client.force_login(admin)
    page = client.get(reverse("admin:repositories_planrun_change", args=[run.pk])).content.decode()
    timeline = page.split('id="run-timeline"', 1)[1]
    assert "stop postgres-1" in timeline and "start postgres-1 again" in timeline
