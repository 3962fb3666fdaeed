"""Buttons on object pages (docs/admin.md): each is shown only to who may use it, a GET of an
action's URL answers with a confirmation page and does nothing, a POST acts and says so, and
a user without the permission gets 403."""

import re
import time

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from archives.models import Archive
from maintenance.models import MaintenanceJob
from repositories.models import PlanRun, Repository, RepositoryLease
from repositories.services import runs
from tests.factories import make_plan, make_repository, make_source_tree
from tests.hookkit import attach, make_script

pytestmark = pytest.mark.django_db

REPOSITORY_BUTTONS = ["initialise", "check-now", "compact-now", "refresh-archives", "change-passphrase", "break-lock"]


def button_ids(html: str) -> list[str]:
    tools = html.split('class="object-tools"', 1)[1].split("</ul>", 1)[0]
    return re.findall(r'id="([a-z-]+)"', tools)


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


@pytest.fixture
def repository(tmp_path):
    return make_repository(tmp_path / "repo", name="main", encryption="repokey", init=False)


@pytest.fixture
def plan(repository, tmp_path):
    return make_plan("nightly", [repository], [tmp_path])


# --- plan -------------------------------------------------------------------------------------


def test_run_now_makes_one_run_and_opens_its_page(admin, client, plan):
    client.force_login(admin)
    run_url = reverse("admin:repositories_backupplan_run", args=[plan.pk])
    page = client.get(reverse("admin:repositories_backupplan_change", args=[plan.pk])).content.decode()
    assert "run-now" in button_ids(page) and "what-will-run" in button_ids(page)

    asked = client.get(run_url)  # a GET only asks
    assert asked.status_code == 200 and 'id="confirm"' in asked.content.decode()
    assert "Run plan nightly now?" in asked.content.decode()
    assert PlanRun.objects.count() == 0

    response = client.post(run_url)
    run = PlanRun.objects.get()
    assert response.status_code == 302 and response.url == reverse("admin:repositories_planrun_change", args=[run.pk])
    again = client.post(run_url, follow=True)  # the plan is running: no second run
    assert PlanRun.objects.count() == 1
    assert messages_of(again) == [f"nightly: run {run.pk} queued.", f"plan nightly is already running (run {run.pk})"]


def test_the_changelist_action_links_to_the_runs_it_queued(admin, client, plan):
    client.force_login(admin)
    response = client.post(
        reverse("admin:repositories_backupplan_changelist"),
        {"action": "run_now", "_selected_action": [plan.pk]},
        follow=True,
    )
    run = PlanRun.objects.get()
    html = response.content.decode()
    run_url = reverse("admin:repositories_planrun_change", args=[run.pk])
    assert f'1 plan run(s) queued: <a href="{run_url}">run {run.pk} of nightly</a>.' in html


def test_a_viewer_sees_what_will_run_but_not_run_now_and_gets_403(role_user, client, plan):
    client.force_login(role_user("viewer"))
    page = client.get(reverse("admin:repositories_backupplan_change", args=[plan.pk])).content.decode()
    assert "what-will-run" in button_ids(page)
    assert "run-now" not in button_ids(page) and "viewsitelink" not in page
    assert client.post(reverse("admin:repositories_backupplan_run", args=[plan.pk])).status_code == 403
    assert client.get(reverse("admin:repositories_backupplan_run", args=[plan.pk])).status_code == 403
    assert PlanRun.objects.count() == 0


# --- repository -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "role, shown",
    [
        ("viewer", ["refresh-archives"]),
        ("operator", ["check-now", "refresh-archives"]),
        ("admin", REPOSITORY_BUTTONS),
    ],
)
def test_repository_buttons_follow_the_roles(role_user, client, repository, role, shown):
    client.force_login(role_user(role))
    page = client.get(reverse("admin:repositories_repository_change", args=[repository.pk])).content.decode()
    assert [i for i in button_ids(page) if i in REPOSITORY_BUTTONS] == shown


def test_initialise_is_offered_only_until_the_repository_is_initialised(admin, client, tmp_path):
    initialised = make_repository(tmp_path / "done", name="done")
    client.force_login(admin)
    page = client.get(reverse("admin:repositories_repository_change", args=[initialised.pk])).content.decode()
    assert initialised.initialised and "initialise" not in button_ids(page)
    listing = client.get(reverse("admin:repositories_repository_changelist")).content.decode()
    assert "field-initialised_shown" in listing


@pytest.mark.django_db(transaction=True)
def test_initialise_runs_on_the_worker_and_the_page_follows_it(qcluster, admin, client, repository):
    client.force_login(admin)
    url = reverse("admin:repositories_repository_initialise", args=[repository.pk])
    asked = client.get(url)
    assert asked.status_code == 200 and "Initialise repository main?" in asked.content.decode()
    assert 'id="confirm"' in asked.content.decode()

    qcluster()
    response = client.post(url)
    assert response.status_code == 302 and "/operations/?task=" in response.url
    deadline = time.monotonic() + 60
    page = client.get(response.url).content.decode()
    while "Working on the worker" in page and time.monotonic() < deadline:
        time.sleep(0.5)
        page = client.get(response.url).content.decode()
    assert "main: initialised (repokey)" in page  # the name as the user wrote it
    assert f'href="{reverse("admin:repositories_repository_change", args=[repository.pk])}">Back to main' in page
    assert Repository.objects.get(pk=repository.pk).initialised
    change = client.get(reverse("admin:repositories_repository_change", args=[repository.pk])).content.decode()
    assert "initialise" not in button_ids(change)


def test_break_lock_asks_first_and_is_refused_while_a_run_holds_the_repository(admin, client, repository, plan):
    run = PlanRun.objects.create(plan=plan, trigger="admin", status="running")
    RepositoryLease.objects.create(repository=repository, run=run, taken=timezone.now())
    client.force_login(admin)
    url = reverse("admin:repositories_repository_break_lock", args=[repository.pk])
    asked = client.get(url).content.decode()
    assert "Break the borg lock of main?" in asked and 'id="confirm"' in asked
    assert "breaking it will be refused" in asked
    response = client.post(url, follow=True)
    assert messages_of(response) == [f"main: not broken — run {run.pk} of nightly is writing it"]


def test_check_now_asks_first_then_queues_a_job(role_user, client, repository):
    client.force_login(role_user("operator"))
    url = reverse("admin:maintenance_maintenancejob_start", args=["check", repository.pk])
    asked = client.get(url)
    assert asked.status_code == 200 and 'id="confirm"' in asked.content.decode()
    assert MaintenanceJob.objects.count() == 0
    response = client.post(url)
    job = MaintenanceJob.objects.get()
    assert response.url == reverse("admin:maintenance_maintenancejob_change", args=[job.pk])
    compact = reverse("admin:maintenance_maintenancejob_start", args=["compact", repository.pk])
    assert client.post(compact).status_code == 403  # compacting is the admin's


def test_refresh_archives_asks_on_get(role_user, client, repository):
    client.force_login(role_user("viewer"))
    url = reverse("admin:archives_archive_refresh", args=[repository.pk])
    asked = client.get(url)
    assert asked.status_code == 200 and "Read the archive list of main from borg?" in asked.content.decode()


# --- run --------------------------------------------------------------------------------------


def test_cancel_asks_then_asks_the_run_to_stop(role_user, client, plan):
    run = PlanRun.objects.create(plan=plan, trigger="admin", status="running")
    client.force_login(role_user("operator"))
    page = client.get(reverse("admin:repositories_planrun_change", args=[run.pk])).content.decode()
    assert "cancel-run" in button_ids(page) and "viewsitelink" not in page
    url = reverse("admin:repositories_planrun_cancel", args=[run.pk])
    asked = client.get(url).content.decode()
    assert f"Cancel run {run.pk} of plan nightly?" in asked and 'id="confirm"' in asked
    assert not PlanRun.objects.get(pk=run.pk).cancel_requested
    response = client.post(url, follow=True)
    assert messages_of(response) == [f"Run {run.pk}: cancel requested."]
    assert PlanRun.objects.get(pk=run.pk).cancel_requested


def test_a_viewer_cannot_cancel(role_user, client, plan):
    run = PlanRun.objects.create(plan=plan, trigger="admin", status="running")
    client.force_login(role_user("viewer"))
    page = client.get(reverse("admin:repositories_planrun_change", args=[run.pk])).content.decode()
    assert "cancel-run" not in button_ids(page)
    assert client.post(reverse("admin:repositories_planrun_cancel", args=[run.pk])).status_code == 403
    assert not PlanRun.objects.get(pk=run.pk).cancel_requested


def test_change_passphrase_needs_the_change_permission(staff, client, repository):
    staff.user_permissions.add(Permission.objects.get(codename="view_repository"))
    client.force_login(staff)
    page = client.get(reverse("admin:repositories_repository_change", args=[repository.pk])).content.decode()
    assert "change-passphrase" not in button_ids(page)


# --- the repository's page: archives, maintenance, size ----------------------------------------


def _repository_page_queries(client, repository) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("admin:repositories_repository_change", args=[repository.pk]))
        assert response.status_code == 200
    return len(queries)


@pytest.mark.django_db(transaction=True)
def test_the_repository_page_shows_its_archives_maintenance_and_size(admin, role_user, client, tmp_path):
    repository = make_repository(tmp_path / "repo")
    plan = make_plan("nightly", [repository], [make_source_tree(tmp_path / "src", files=2)])
    client.force_login(admin)
    first = runs.run_in_foreground(plan)
    _repository_page_queries(client, repository)  # the session and caches settle
    queries_with_one = _repository_page_queries(client, repository)
    second = runs.run_in_foreground(plan)
    assert (first.status, second.status) == ("success", "success")
    MaintenanceJob.objects.create(kind="check", repository=repository, trigger="admin", target="main", status="success")

    page = client.get(reverse("admin:repositories_repository_change", args=[repository.pk])).content.decode()
    section = page.split('id="repository-archives-section"', 1)[1].split("</fieldset>", 1)[0]
    older, newer = Archive.objects.filter(repository=repository).order_by("start")
    assert re.search(r"<h2>Archives \(2; the repository holds \d+(\.\d)? (B|kB|MB) on disk\)</h2>", section)
    assert section.index(newer.name) < section.index(older.name), "the latest first"
    for name in ("browse", "download", "restore"):
        assert f'href="{reverse(f"admin:archives_archive_{name}", args=[newer.pk])}"' in section
    assert f"?old={older.pk}&amp;new={newer.pk}" in section
    assert 'id="maintenance-history"' in page and "#" in page.split('id="maintenance-history"', 1)[1]
    assert _repository_page_queries(client, repository) == queries_with_one, "more archives, the same queries"

    client.force_login(role_user("viewer"))
    page = client.get(reverse("admin:repositories_repository_change", args=[repository.pk])).content.decode()
    section = page.split('id="repository-archives-section"', 1)[1].split("</fieldset>", 1)[0]
    assert "browse" in section and "download" not in section and "restore" not in section


def test_the_hook_tables_list_pre_backup_before_post_backup(admin, client, repository, plan):
    attach(repository, make_script("after", "#!/bin/sh\ntrue\n"), "post-backup")
    attach(repository, make_script("before", "#!/bin/sh\ntrue\n"), "pre-backup")
    client.force_login(admin)
    page = client.get(reverse("admin:repositories_repository_change", args=[repository.pk])).content.decode()
    assert page.index("before (pre-backup of main)") < page.index("after (post-backup of main)")


@pytest.mark.django_db(transaction=True)
def test_initialise_of_a_repository_borg_already_has_says_so(qcluster, admin, client, tmp_path):
    existing = make_repository(tmp_path / "existing", name="existing")
    Repository.objects.filter(pk=existing.pk).update(initialised=False)  # configured before borgui knew
    client.force_login(admin)
    qcluster()
    response = client.post(reverse("admin:repositories_repository_initialise", args=[existing.pk]))
    deadline = time.monotonic() + 60
    page = client.get(response.url).content.decode()
    while "Working on the worker" in page and time.monotonic() < deadline:
        time.sleep(0.5)
        page = client.get(response.url).content.decode()
    assert '<li class="success">existing: already initialised</li>' in page
    assert Repository.objects.get(pk=existing.pk).initialised
