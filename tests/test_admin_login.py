"""The admin site, as each kind of user meets it in a real browser."""

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_admin_logs_in_and_sees_the_site(admin, admin_login, page):
    admin_login(admin)
    assert page.locator("#site-name").inner_text() == "borgui"
    assert page.locator("h1").inner_text() == "Backups"
    # whitenoise serves the admin's own stylesheet under gunicorn-like settings (DEBUG off)
    assert page.evaluate("getComputedStyle(document.querySelector('#header')).display") == "flex"


def test_staff_without_rights_sees_no_models(staff, admin_login, page):
    admin_login(staff)
    assert "You don’t have permission to view or edit anything." in page.content()


def test_outsider_cannot_log_in(outsider, admin_login, page):
    admin_login(outsider)
    assert page.locator(".errornote").inner_text().startswith("Please enter the correct username and password")


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_a_viewer_sees_the_admin_but_no_buttons_to_run_test_or_approve(role, role_user, admin_login, page, live_server):
    from repositories.models import PlanRun
    from tests.factories import make_plan, make_repository
    from tests.hookkit import make_script

    repository = make_repository("/nonexistent/borgui-browser-repo", encryption="repokey", init=False)
    plan = make_plan("nightly", [repository], ["/srv"])
    run = PlanRun.objects.create(plan=plan, status="running", trigger="manual")
    script = make_script("probe", "#!/bin/sh\necho hi\n", approved=False)
    admin_login(role_user(role))
    may_run = role == "operator"  # the operator shows the buttons exist where they may

    assert page.locator("h1").inner_text() == "Backups"
    assert page.get_by_role("link", name="Backup plans").count() == 1
    assert (page.locator('a[href="/admin/system/"]').count() > 0) == may_run
    page.goto(f"{live_server.url}/admin/hooks/script/{script.pk}/change/")
    assert page.locator("#id_body").count() == 0  # read-only: no editor
    assert page.locator("#test-script").count() == int(may_run)
    assert page.locator("#approve-script").count() == 0  # only the admin approves
    assert page.locator("input[name=_save]").count() == 0
    page.goto(f"{live_server.url}/admin/repositories/planrun/{run.pk}/change/")
    assert page.locator("#cancel-run").count() == int(may_run)
    page.goto(f"{live_server.url}/admin/repositories/backupplan/")
    actions = page.locator("select[name=action] option").all_inner_texts()
    assert ("Run now" in actions) == may_run
    page.goto(f"{live_server.url}/admin/repositories/repository/{repository.pk}/change/")
    assert page.locator("#change-passphrase").count() == 0
    # The page is the read-only view, with the repository's name as text.
    assert page.locator("#id_name").count() == 0 and "main" in page.locator("#content").inner_text()
