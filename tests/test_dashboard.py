"""The dashboard, the admin's front page (docs/dashboard.md), with real backups."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django_q.models import Task

from archives.models import Archive, ArchiveListState
from repositories.models import ContainerStop, PlanRun, RepositoryJob
from repositories.services import runs
from system.views import REPORT_GROUP
from tests.factories import make_plan, make_repository, make_source_tree

pytestmark = pytest.mark.django_db

INDEX = "/admin/"


def _page(client) -> str:
    response = client.get(INDEX)
    assert response.status_code == 200
    return response.content.decode()


def _section(page: str, element_id: str) -> str:
    start = page.index(f'id="{element_id}"')
    return page[start : page.index("</table>", start) if "<table" in page[start : start + 300] else start + 4000]


@pytest.mark.django_db(transaction=True)
def test_a_good_and_a_failed_plan_after_real_backups(client, admin, tmp_path):
    good = make_plan("good", [make_repository(tmp_path / "repo")], [make_source_tree(tmp_path / "src")])
    broken = make_plan("broken", [make_repository(tmp_path / "missing", name="gone", init=False)], [tmp_path / "src"])
    assert runs.run_in_foreground(good).status == "success"
    failed = runs.run_in_foreground(broken)
    assert failed.status == "failure"
    client.force_login(admin)
    page = _page(client)
    plans = _section(page, "dashboard-plans")
    good_row = plans[plans.index(f'data-plan="{good.pk}"') :].split("</tr>")[0]
    assert 'class="status-success dashboard-status">success<' in good_row
    assert " ago" in good_row and "kB" in good_row, good_row  # the archive's size, its age
    broken_row = plans[plans.index(f'data-plan="{broken.pk}"') :].split("</tr>")[0]
    assert ">failure<" in broken_row
    problems = _section(page, "dashboard-problems")
    assert f"broken #{failed.pk}" in problems and failed.get_absolute_url() in problems
    assert "good #" not in problems
    repositories = _section(page, "dashboard-repositories")
    assert ">gone<" in repositories and ">main<" in repositories and ">success<" in repositories
    assert "No backup is running." in page


def _world(tmp_path, plans: int):
    """PLANS plans with a few runs each: finished, failed, running, a stopped container."""
    repository = make_repository(tmp_path / f"repo-{plans}", name=f"repo-{plans}", init=False)
    ArchiveListState.objects.create(repository=repository, unique_csize=123_456_789)
    now = timezone.now()
    for index in range(plans):
        plan = make_plan(f"plan-{plans}-{index}", [repository], [tmp_path], schedule=f"{index % 60} 3 * * *")
        Archive.objects.create(repository=repository, name=f"a-{plans}-{index}", plan=plan, start=now)
        for order, status in enumerate(("success", "failure", "running")):
            finished = None if status == "running" else now - timedelta(hours=index + 1)
            run = PlanRun.objects.create(
                plan=plan, trigger="schedule", status=status, started=now - timedelta(hours=index + 2),
                finished=finished, scheduled_for=now - timedelta(days=index, minutes=order), reason=status,
            )  # fmt: skip
            RepositoryJob.objects.create(
                run=run, repository=repository, status=status, finished=finished, nfiles=10, original_size=10_000,
                progress_files=3, progress_bytes=3_000, progress_started=now - timedelta(seconds=30),
                progress_updated=now,
            )  # fmt: skip
        ContainerStop.objects.create(run=run, selector="db", container_id="c" * 12, name=f"db-{index}", stopped_at=now)


def _queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        _page(client)
    return len(queries)


def test_the_dashboard_costs_the_same_queries_for_2_or_12_plans(client, admin, tmp_path):
    client.force_login(admin)
    _world(tmp_path, 2)
    few = _queries(client)
    _world(tmp_path, 12)
    page = _page(client)
    assert _queries(client) == few
    assert page.count('class="live-job ') == 14 and page.count("<progress") == 14
    assert page.count("db-") == 14  # containers stopped and not started again
    assert "123.5 MB" in _section(page, "dashboard-repositories")
    assert _section(page, "dashboard-next-runs").count("<tr>") == 10  # the next ten


def test_the_percentage_on_the_dashboard_comes_from_the_previous_archive(client, admin, tmp_path):
    _world(tmp_path, 1)
    client.force_login(admin)
    running = _section(_page(client), "dashboard-running")
    assert 'value="30.0"' in running and "30 % — 3 files, 3.0 kB" in running and " left" in running


def test_each_section_shows_only_to_who_may_view_it(client, role_user, staff, tmp_path):
    _world(tmp_path, 1)
    Task.objects.create(
        id="d" * 32, name="report", func="system.tasks.system_report", group=REPORT_GROUP, success=True,
        started=timezone.now(), stopped=timezone.now(),
        result={"ok": False, "checks": [{"name": "docker", "ok": False, "required": True, "note": False,
                                         "detail": "cannot reach the Docker daemon"}]},
    )  # fmt: skip
    sections = ["dashboard-running", "dashboard-plans", "dashboard-problems", "dashboard-repositories"]
    client.force_login(staff)
    page = _page(client)
    assert [s for s in [*sections, "dashboard-system"] if f'id="{s}"' in page] == []
    client.force_login(role_user("viewer"))
    page = _page(client)
    assert [s for s in sections if f'id="{s}"' not in page] == []
    assert 'id="dashboard-system"' not in page  # the System page is for admins (docs/security.md)
    client.force_login(role_user("admin"))
    system = _section(_page(client), "dashboard-system")
    assert "1 problem" in system and "docker: cannot reach the Docker daemon" in system
    assert "none seen in the last minute" in system  # no worker heartbeat in this test


def test_djangos_task_lists_are_for_superusers_and_linked_from_the_system_page(client, admin, role_user):
    client.force_login(role_user("admin"))
    assert "/admin/django_q/" not in _page(client)
    assert client.get(reverse("admin:django_q_failure_changelist")).status_code == 200  # still reachable
    client.force_login(admin)
    assert "/admin/django_q/" in _page(client)


def test_the_system_page_links_the_task_lists_for_their_holders(client, role_user):
    from django.template.loader import render_to_string
    from django.test import RequestFactory

    request = RequestFactory().get("/admin/system/")
    for role, shown in (("admin", True), ("viewer", False)):
        request.user = role_user(role)
        page = render_to_string("admin/system.html", {"waiting": True, "web": {"checks": []}}, request=request)
        assert ('id="task-lists"' in page) is shown, role


# --- long lists ---------------------------------------------------------------------------------


def test_the_runs_list_reads_its_last_pages_from_the_end_in_the_same_order(client, admin, tmp_path):
    plan = make_plan("long", [make_repository(tmp_path / "repo", init=False)], [tmp_path])
    now = timezone.now()
    # Two runs per moment: the id breaks the tie, on both ends of the list.
    PlanRun.objects.bulk_create(
        PlanRun(plan=plan, trigger="admin", status="success", created=now - timedelta(minutes=i // 2))
        for i in range(250)
    )
    expected = list(PlanRun.objects.order_by("-created", "-id").values_list("pk", flat=True))
    client.force_login(admin)
    url = reverse("admin:repositories_planrun_changelist")
    shown = []
    for number in (1, 2, 3):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(f"{url}?p={number}")
        shown += [run.pk for run in response.context["cl"].result_list]
    assert shown == expected
    assert not [q for q in queries.captured_queries if "OFFSET 200" in q["sql"]], "the last page is read from the end"
