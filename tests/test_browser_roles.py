"""What a viewer meets in Chromium: every page to read, no button to run, test, approve,
download or restore, and 403 when posting to those actions anyway — with a valid CSRF
token, as a hand-made form would (tests/browserkit.py, docs/security.md#permission-matrix)."""

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from repositories.models import PlanRun
from tests.archivekit import indexed_archive
from tests.browserkit import GROUP, log_in, post_as_page
from tests.conftest import PASSWORDS
from tests.factories import make_plan, make_repository, make_source_tree
from tests.hookkit import make_script

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group(GROUP), pytest.mark.django_db(transaction=True)]


def test_a_viewer_sees_no_action_buttons_and_gets_403_when_posting_to_them(
    borgui_server, role_user, chromium_pages, tmp_path
):
    repository = make_repository(tmp_path / "repo", name="local")
    source = make_source_tree(tmp_path / "data")
    archive = indexed_archive(repository, source, "monday")
    plan = make_plan("nightly", [repository], [source])
    run = PlanRun.objects.create(plan=plan, status="running", trigger="manual")
    script = make_script("probe", "#!/bin/sh\necho hi\n", approved=False)
    url = borgui_server.url
    pages = {
        "plan": f"{url}/admin/repositories/backupplan/{plan.pk}/change/",
        "script": f"{url}/admin/hooks/script/{script.pk}/change/",
        "browse": f"{url}{reverse('admin:archives_archive_browse', args=[archive.pk])}",
        "run": f"{url}/admin/repositories/planrun/{run.pk}/change/",
    }
    # The buttons, where they are, and what each one posts to: as the admin sees them.
    buttons = {
        "plan": ["#run-now"],
        "script": ["#test-script", "#approve-script"],
        "browse": ["#restore-selected", "a.download"],
        "run": ["#cancel-run"],
    }
    admin = _logged_in(chromium_pages(), borgui_server, role_user("admin"))
    targets = {
        "test": reverse("admin:hooks_script_test", args=[script.pk]),
        "approve": reverse("admin:hooks_script_approve", args=[script.pk]),
        "download": reverse("admin:archives_archive_download", args=[archive.pk]) + "?path=file-0000.bin",
        "restore": reverse("admin:archives_archive_restore", args=[archive.pk]),
        "cancel": reverse("admin:repositories_planrun_cancel", args=[run.pk]),
    }
    for name, selectors in buttons.items():
        admin.goto(pages[name])
        for selector in selectors:
            expect(admin.locator(selector).first).to_be_visible()
    admin.goto(pages["plan"])
    targets["run"] = admin.locator("form:has(#run-now)").get_attribute("action")

    viewer = _logged_in(chromium_pages(), borgui_server, role_user("viewer"))
    for name, selectors in buttons.items():
        viewer.goto(pages[name])
        expect(viewer.locator("#content")).to_be_visible()
        for selector in selectors:
            expect(viewer.locator(selector)).to_have_count(0)
    expect(viewer.locator("#archive-entries input[type=checkbox]")).to_have_count(0)
    for name, target in targets.items():
        assert post_as_page(viewer, url + target) == 403, f"{name}: {target}"
    script.refresh_from_db()
    run.refresh_from_db()
    assert not script.is_approved and not run.cancel_requested

    # The same hand-made form from the operator is accepted: the token was valid.
    operator = _logged_in(chromium_pages(), borgui_server, role_user("operator"))
    operator.goto(pages["script"])
    assert post_as_page(operator, url + targets["test"]) == 200


def _logged_in(page: Page, server, user) -> Page:
    log_in(page, server, user.username, PASSWORDS[user.username])
    return page
