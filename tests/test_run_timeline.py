"""A run's page as one timeline (docs/running-plans.md, "Reading a run"): every step of a
real run — hooks, the container stop and start, borg create, prune — in the order it ran,
each with its start, duration, status and output; borg's stats in human sizes; the archive
linked to its browser; a cancelled run called cancelled; a constant number of queries."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from archives.models import Archive
from repositories.models import PlanRun
from repositories.services import runs
from tests.factories import make_plan, make_repository, make_source_tree
from tests.hookkit import attach, make_script

pytestmark = pytest.mark.django_db(transaction=True)

MOMENT = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [A-Z]{2,5}"  # with seconds and the time zone


def echo(name: str):
    return make_script(name, f"#!/bin/sh\necho output of {name}\necho warning from {name} >&2\n")


def timeline_rows(html: str) -> list[tuple[str, str]]:
    """(phase, title) of each timeline row, in the page's order."""
    section = html.split('id="run-timeline"', 1)[1].split("</fieldset>", 1)[0]
    return re.findall(r'data-phase="([^"]+)">\s*<td>[^<]*</td>\s*<td><strong>([^<]+)</strong>', section)


def test_a_real_run_shows_every_step_in_the_order_it_ran(docker_host, admin, client, tmp_path):
    docker_host.run_container("db")
    repository = make_repository(tmp_path / "repo")
    plan = make_plan(
        "nightly", [repository], [make_source_tree(tmp_path / "src", files=3)], stop_containers=["db"], keep_daily=7
    )
    attach(plan, echo("plan-post"), "post-backup")
    attach(repository, echo("repo-post"), "post-backup")
    attach(plan, echo("plan-pre"), "pre-backup")
    repository.pre_backup_script = "#!/bin/sh\necho output of the inline pre hook\n"
    repository.approve_inline_hooks()
    repository.save()

    run = runs.run_in_foreground(plan)
    assert run.status == "success", run.log
    client.force_login(admin)
    html = client.get(reverse("admin:repositories_planrun_change", args=[run.pk])).content.decode()

    assert timeline_rows(html) == [
        ("plan pre-backup", "pre-backup hook plan-pre"),
        ("plan pre-backup", "stop db"),
        ("pre-backup", "pre-backup hook pre_backup_script of main"),
        ("backup", "borg create to main"),
        ("prune", "borg prune of main"),
        ("post-backup", "post-backup hook repo-post"),
        ("plan post-backup", "post-backup hook plan-post"),
        ("after the run", "start db again"),
    ]
    section = html.split('id="run-timeline"', 1)[1].split("</fieldset>", 1)[0]
    assert len(re.findall(rf"<td>{MOMENT}</td>", section)) == 8, "each step has its start, with seconds and zone"
    assert section.count('class="status-success"') == 8
    # Outputs fold away; borg's stats are in human sizes; the archive opens in its browser.
    assert '<details class="step-output"><summary>stdout</summary>' in section
    assert "output of the inline pre hook" in section and "warning from repo-post" in section
    job = run.jobs.get()
    assert re.search(r"<dt>original size</dt><dd>\d+(\.\d)? (B|kB)</dd>", section)
    archive = Archive.objects.get(repository=repository, name=job.archive_name)
    assert f'href="{reverse("admin:archives_archive_browse", args=[archive.pk])}"' in section
    assert "archive names in the plan's time zone, UTC" in html
    assert 'id="run-log"' in html and f"run {run.pk} finished: success" in html
    assert "stopped container" not in html.lower() and "sources mounted" not in html.lower()


def test_a_cancelled_run_is_called_cancelled(admin, client, tmp_path):
    plan = make_plan("nightly", [make_repository(tmp_path / "repo", init=False)], [tmp_path])
    cancelled = PlanRun.objects.create(
        plan=plan, trigger="admin", status="failure", reason="cancelled", cancel_requested=True
    )
    asked = PlanRun.objects.create(plan=plan, trigger="admin", status="success", cancel_requested=False)
    running = PlanRun.objects.create(plan=plan, trigger="admin", status="running", cancel_requested=True)
    client.force_login(admin)

    page = client.get(reverse("admin:repositories_planrun_change", args=[cancelled.pk])).content.decode()
    assert 'class="status-cancelled"' in page and 'class="status-failure"' not in page
    listing = client.get(reverse("admin:repositories_planrun_changelist")).content.decode()
    assert listing.count('class="status-cancelled"') == 1
    page = client.get(reverse("admin:repositories_planrun_change", args=[running.pk])).content.decode()
    assert "cancel requested: the run stops at its next step" in page and "icon-no" not in page
    page = client.get(reverse("admin:repositories_planrun_change", args=[asked.pk])).content.decode()
    assert "Nothing has run yet." in page


def _page_queries(client, run) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(reverse("admin:repositories_planrun_change", args=[run.pk])).status_code == 200
    return len(queries)


def test_the_run_page_takes_the_same_queries_for_one_step_or_many(admin, client, tmp_path):
    source = make_source_tree(tmp_path / "src", files=1)
    small = make_plan("small", [make_repository(tmp_path / "one", name="one")], [source])
    repositories = [make_repository(tmp_path / f"r{i}", name=f"r{i}") for i in range(3)]
    large = make_plan("large", repositories, [source], keep_daily=3)
    for index, repository in enumerate(repositories):
        attach(repository, echo(f"pre-{index}"), "pre-backup")
        attach(repository, echo(f"post-{index}"), "post-backup")
    small_run, large_run = runs.run_in_foreground(small), runs.run_in_foreground(large)
    assert (small_run.status, large_run.status) == ("success", "success")
    client.force_login(admin)
    _page_queries(client, small_run)  # the session and caches settle
    assert _page_queries(client, large_run) == _page_queries(client, small_run)
