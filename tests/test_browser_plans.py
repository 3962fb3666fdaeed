"""A plan in Chromium: a script attached with a parameter, the preview of what will run, a
run from the plan's page followed to 100 % on its page and on the dashboard, and a run
that fails with its reason on the dashboard (tests/browserkit.py)."""

import re

import pytest
from playwright.sync_api import Page, expect

from repositories.models import PlanRun
from repositories.services import runs
from tests.browserkit import GROUP, expect_message, log_in, screenshot
from tests.conftest import PASSWORDS
from tests.factories import SLOW_COMPRESSION, SLOW_TREE, make_plan, make_repository, make_source_tree
from tests.hookkit import attach, make_script

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group(GROUP), pytest.mark.django_db(transaction=True)]

GREET = '#!/bin/sh\necho "hello $GREETING"\nexit "${EXIT_CODE:-0}"\n'
# Slow enough (zstd,22 on fresh random data) that the page sees the run in progress: borg
# saves its progress every 2 seconds, and 40 MB proved too little on an idle machine.
TREE = SLOW_TREE
GREEN = "rgb(46, 125, 50)"  # .status-success


def test_a_plan_with_a_hook_is_previewed_run_from_its_page_and_turns_the_dashboard_green(
    borgui_server, role_user, chromium_page, tmp_path
):
    page = chromium_page
    repository = make_repository(tmp_path / "repo", name="local")
    sources = make_source_tree(tmp_path / "data", **TREE)
    plan = make_plan("nightly", [repository], [sources], compression="lz4")
    runs.run_in_foreground(plan)  # the previous archive, which the progress is measured against
    make_source_tree(sources, **TREE)  # the same files, new contents: nothing to deduplicate
    plan.compression = SLOW_COMPRESSION
    plan.save()
    make_script("greet", GREET, {"GREETING": "nobody", "EXIT_CODE": "0"})
    user = role_user("admin")
    log_in(page, borgui_server, user.username, PASSWORDS[user.username])

    plan_url = f"{borgui_server.url}/admin/repositories/backupplan/{plan.pk}/change/"
    page.goto(plan_url)
    page.select_option("#id_hook_attachments-0-script", label="greet")
    page.select_option("#id_hook_attachments-0-hook_type", "pre-backup")
    page.fill("#id_hook_attachments-0-parameter_values", "GREETING=from the browser")
    page.click("input[name=_continue]")
    expect_message(page, "was changed successfully")
    assert plan.hook_attachments.get().values() == {"GREETING": "from the browser"}

    preview = _open_preview(page)
    expect(preview.locator("#preview-ok")).to_be_visible()  # nothing would stop it
    hook = preview.locator(".preview-step", has_text="pre-backup hook greet")
    hook.locator("summary", has_text="Environment").click()
    expect(hook.get_by_text("GREETING=from the browser")).to_be_visible()
    expect(preview.locator(".step-command")).to_contain_text(
        f"create --json --progress --compression={SLOW_COMPRESSION}"
    )
    screenshot(page, "plan-preview")

    page.goto(plan_url)
    run = _run_now(page)
    status = page.locator("#run-progress [data-role=status]")
    bar = page.locator("#run-progress progress[data-role=bar]")
    expect(status).to_have_text("running")
    expect(bar).to_have_attribute("value", re.compile(r"\d"))  # a percentage while borg works
    screenshot(page, "run-running")
    expect(status).to_have_text("success", timeout=120_000)
    expect(bar).to_have_attribute("value", re.compile(r"^100(\.0)?$"))
    expect(page.locator("#content")).to_contain_text("hello from the browser")
    screenshot(page, "run-finished")
    assert PlanRun.objects.get(pk=run).status == "success"

    dashboard = _open_dashboard(page, borgui_server)
    last = dashboard.locator(f"#dashboard-plans tr[data-plan='{plan.pk}'] .dashboard-status")
    expect(last).to_have_text("success")
    expect(last).to_have_css("color", GREEN)
    screenshot(page, "dashboard")


def test_a_failing_pre_hook_shows_its_reason_on_the_dashboard(borgui_server, role_user, chromium_page, tmp_path):
    page = chromium_page
    repository = make_repository(tmp_path / "repo", name="local")
    plan = make_plan("nightly", [repository], [make_source_tree(tmp_path / "data")])
    greet = make_script("greet", GREET, {"GREETING": "", "EXIT_CODE": "0"})
    attach(plan, greet, "pre-backup", values={"EXIT_CODE": "3"})
    user = role_user("operator")
    log_in(page, borgui_server, user.username, PASSWORDS[user.username])

    page.goto(f"{borgui_server.url}/admin/repositories/backupplan/{plan.pk}/change/")
    run = _run_now(page)
    # The page follows the run until it ends.
    expect(page.locator(".field-status_badge")).to_contain_text("failure")
    reason = PlanRun.objects.get(pk=run).reason
    assert "pre-backup hook" in reason, reason
    expect(page.locator(".field-reason")).to_contain_text(reason)

    dashboard = _open_dashboard(page, borgui_server)
    last = dashboard.locator(f"#dashboard-plans tr[data-plan='{plan.pk}']")
    expect(last.locator(".dashboard-status")).to_have_text("failure")
    problems = dashboard.locator("#dashboard-problems")
    expect(problems).to_contain_text(f"nightly #{run}")
    expect(problems).to_contain_text(reason)


def _open_preview(page: Page):
    page.click("#what-will-run")
    return page.locator("#plan-preview")


def _run_now(page: Page) -> int:
    """Run now on the plan's page: one click makes one run and opens its page. The run's id."""
    page.click("#run-now")
    expect(page).to_have_url(re.compile(r"/admin/repositories/planrun/\d+/change/$"))
    return int(re.search(r"/planrun/(\d+)/", page.url).group(1))


def _open_dashboard(page: Page, server):
    page.goto(f"{server.url}/admin/")
    return page.locator("#dashboard")
