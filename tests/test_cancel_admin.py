"""Cancelling a running backup from its page in the admin (issue 3), with a real worker."""

import time

import pytest

from repositories.models import PlanRun, RepositoryJob
from repositories.services import runs
from tests.factories import SLOW_COMPRESSION, SLOW_TREE, make_plan, make_repository, make_source_tree
from tests.hookkit import attach, recorder

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_cancel_button_stops_borg_and_post_hooks_still_run(qcluster, admin, admin_login, page, live_server, tmp_path):
    log = tmp_path / "hooks.log"
    repository = make_repository(tmp_path / "repo")
    plan = make_plan(
        "slow", [repository], [make_source_tree(tmp_path / "big", **SLOW_TREE)], compression=SLOW_COMPRESSION
    )
    attach(repository, recorder(), "post-backup", values={"MARK": "post", "LOG": str(log)}, run_on="failure")
    qcluster()
    run = runs.queue_run(plan)
    deadline = time.monotonic() + 60
    while not RepositoryJob.objects.filter(run=run, status="running").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    admin_login(admin)
    page.goto(f"{live_server.url}/admin/repositories/planrun/{run.pk}/change/")
    page.click("#cancel-run")
    assert f"Cancel run {run.pk} of plan slow?" in page.locator("h1").inner_text()  # asked first
    assert PlanRun.objects.get(pk=run.pk).cancel_requested is False
    page.click("#confirm")
    assert "cancel requested" in page.locator(".messagelist").inner_text()
    while PlanRun.objects.get(pk=run.pk).status != "failure" and time.monotonic() < deadline + 60:
        time.sleep(0.2)
    run.refresh_from_db()
    assert (run.status, run.reason) == ("failure", "cancelled")
    assert log.read_text() == "post failure\n", "a cancelled job is a failure for its post hooks"
    page.goto(f"{live_server.url}/admin/repositories/planrun/{run.pk}/change/")
    assert page.locator("#cancel-run").count() == 0, "no cancel button on a finished run"
