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
