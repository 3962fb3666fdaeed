"""The admin at 1280 × 800 in Chromium: nothing clipped or hidden past the right edge, long
text truncated with its full value in a title, help under the fields, a favicon
(docs/index.md, "The admin pages")."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from hooks.models import ScriptExecution
from repositories.models import PlanRun, RepositoryJob
from tests.factories import make_plan, make_repository
from tests.hookkit import attach, make_script

pytestmark = pytest.mark.django_db(transaction=True)
WIDTH, HEIGHT = 1280, 800
LONG_REASON = (
    "main: /srv/data/a-rather-long-directory-name/with/several/levels/that-no-longer-exists: "
    "[Errno 2] No such file or directory: 'that-no-longer-exists'; /srv/other/gone: [Errno 2] No such file"
)
LONG_OUTPUT = "pg_dump: dumping contents of table public.a_table_with_a_very_long_name_indeed " * 6

# What is cut off: past the right edge of the window, or wider than a box that scrolls or
# hides what overflows (a list's .results). Text that is cut on purpose (.truncate, with
# its title) and boxes that scroll their own text (fields, outputs) do not count.
OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  const out = [];
  if (document.documentElement.scrollWidth > width + 1) out.push('page ' + document.documentElement.scrollWidth);
  const own = 'input, textarea, select, pre, .truncate, .select2, .code-editor';
  for (const el of document.querySelectorAll('#content *')) {
    if (el.closest(own)) continue;
    const name = el.tagName + '.' + (el.className || el.id || '');
    const box = el.getBoundingClientRect();
    if (box.width && box.right > width + 1) out.push(name + ' right ' + Math.round(box.right));
    const overflow = getComputedStyle(el).overflowX;
    if (overflow !== 'visible' && el.scrollWidth > el.clientWidth + 1) {
      out.push(name + ' cuts ' + el.scrollWidth + ' to ' + el.clientWidth);
    }
  }
  return out.slice(0, 10);
}"""


@pytest.fixture
def world(tmp_path):
    repository = make_repository(tmp_path / "repo", init=False)
    plan = make_plan("nightly-database-and-files", [repository], ["/srv"], schedule="@daily")
    script = make_script(
        "dump-postgres-before-backup-with-a-long-name", "#!/bin/sh\necho ${DB_NAME:-app} ${DB_USER:-postgres}\n",
        {"DB_NAME": "app", "DB_USER": "postgres"}, description="Dumps every database of the container " * 4,
    )  # fmt: skip
    attach(plan, script, "pre-backup", values={"DB_NAME": "a-database-name-that-is-long"})
    attach(repository, script, "post-backup")
    now = timezone.now()
    runs = []
    for n in range(30):
        run = PlanRun.objects.create(
            plan=plan, status="warning", trigger="schedule", reason=LONG_REASON, scheduled_for=now - timedelta(days=n),
            started=now - timedelta(minutes=n + 1), finished=now - timedelta(minutes=n),
        )  # fmt: skip
        job = RepositoryJob.objects.create(run=run, repository=repository, status="warning", reason=LONG_REASON)
        ScriptExecution.objects.create(
            script=script, script_name=script.name, run=run, job=job, hook_type="pre-backup", state="done",
            exit_code=0, duration=1.5, stdout=LONG_OUTPUT, started=run.started, finished=run.started,
        )  # fmt: skip
        runs.append(run)
    return {"plan": plan, "repository": repository, "script": script, "run": runs[0]}


def _pages(world) -> dict[str, str]:
    return {
        "plan runs": reverse("admin:repositories_planrun_changelist"),
        "a run": reverse("admin:repositories_planrun_change", args=[world["run"].pk]),
        "scripts": reverse("admin:hooks_script_changelist"),
        "script executions": reverse("admin:hooks_scriptexecution_changelist"),
        "a script": reverse("admin:hooks_script_change", args=[world["script"].pk]),
        "a plan": reverse("admin:repositories_backupplan_change", args=[world["plan"].pk]),
        "a repository": reverse("admin:repositories_repository_change", args=[world["repository"].pk]),
        "plans": reverse("admin:repositories_backupplan_changelist"),
        "repositories": reverse("admin:repositories_repository_changelist"),
    }


def test_no_page_is_clipped_at_1280_pixels(world, admin, admin_login, page, live_server):
    page.set_viewport_size({"width": WIDTH, "height": HEIGHT})
    admin_login(admin)
    clipped = {}
    for name, url in _pages(world).items():
        page.goto(live_server.url + url)
        expect(page.locator("#content")).to_be_visible()
        if sticking_out := page.evaluate(OVERFLOW):
            clipped[name] = sticking_out
    assert not clipped, "\n".join(f"{name}: {where}" for name, where in clipped.items())


def test_the_plan_runs_list_shows_finished_and_a_truncated_reason(world, admin, admin_login, page, live_server):
    page.set_viewport_size({"width": WIDTH, "height": HEIGHT})
    admin_login(admin)
    page.goto(live_server.url + reverse("admin:repositories_planrun_changelist"))
    for column in ("column-finished_shown", "column-reason_shown"):
        box = page.locator(f"#result_list th.{column}").bounding_box()
        assert box and box["x"] + box["width"] <= WIDTH, column
    # The filters sit above the list, so the list has the whole width.
    filters, results = page.locator("#changelist-filter").bounding_box(), page.locator("#result_list").bounding_box()
    assert filters["y"] + filters["height"] <= results["y"] and results["width"] > 850
    reason = page.locator("#result_list td.field-reason_shown span").first
    assert reason.get_attribute("title") == LONG_REASON
    assert reason.bounding_box()["height"] < 40  # one line, cut with an ellipsis


def test_the_repository_form_leads_with_its_main_fields(world, admin, admin_login, page, live_server):
    page.set_viewport_size({"width": WIDTH, "height": HEIGHT})
    admin_login(admin)
    page.goto(live_server.url + reverse("admin:repositories_repository_change", args=[world["repository"].pk]))
    legacy = page.locator("fieldset.collapse", has_text="Legacy inline hooks")
    advanced = page.locator("fieldset.collapse", has_text="Advanced")
    expect(legacy).to_have_count(1)
    expect(advanced).to_have_count(1)
    expect(page.locator("#id_pre_backup_script")).to_be_hidden()  # collapsed until opened
    expect(page.locator("#id_exported_key")).to_be_hidden()
    expect(page.locator("#id_location")).to_be_in_viewport()
    legacy.locator("summary").click()
    expect(page.locator("#id_pre_backup_script")).to_be_visible()
    # Help is written under the field, not only in a tooltip; a hook table's column help under it.
    expect(page.locator(".field-location .help")).to_be_visible()
    column_help = page.locator("#hook_attachments-help")
    expect(column_help).to_be_visible()
    expect(column_help.locator("dt", has_text="On failure")).to_be_visible()
    expect(column_help).to_contain_text("pre: fail (default), continue, skip")


def test_the_favicon_is_served_and_linked(admin_client):
    for url in ("/favicon.ico", "/static/borgui/favicon.svg"):
        response = admin_client.get(url, follow=True)
        assert response.status_code == 200, url
        assert response["Content-Type"].startswith("image/svg+xml")
    page = admin_client.get(reverse("admin:index")).content.decode()
    assert '<link rel="icon" href="/static/borgui/favicon.svg" type="image/svg+xml">' in page
    assert 'href="/static/borgui/admin.css"' in page
