"""Signing in to borgui served by gunicorn, in Chromium (tests/browserkit.py)."""

import pytest
from playwright.sync_api import expect

from tests.browserkit import GROUP, log_in
from tests.conftest import PASSWORDS

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group(GROUP), pytest.mark.django_db(transaction=True)]


def test_a_wrong_password_is_refused_and_the_right_one_opens_the_admin(borgui_server, role_user, chromium_page):
    page = chromium_page
    user = role_user("operator")
    page.goto(f"{borgui_server.url}/admin/")
    expect(page).to_have_url(f"{borgui_server.url}/admin/login/?next=/admin/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", "not-the-password")
    page.click("input[type=submit]")
    expect(page.locator(".errornote")).to_contain_text("Please enter the correct username and password")

    log_in(page, borgui_server, user.username, PASSWORDS[user.username])
    expect(page).to_have_url(f"{borgui_server.url}/admin/")
    # The admin's own stylesheet, served by whitenoise with DEBUG off, as in the image.
    assert page.evaluate("getComputedStyle(document.querySelector('#header')).display") == "flex"


def test_the_site_has_a_favicon(borgui_server, chromium_page):
    # Every page names it, and /favicon.ico (asked for by browsers anyway) leads to it too.
    chromium_page.goto(f"{borgui_server.url}/admin/login/")
    icon = chromium_page.locator("link[rel=icon]").get_attribute("href")
    for url in (f"{borgui_server.url}{icon}", f"{borgui_server.url}/favicon.ico"):
        response = chromium_page.request.get(url)
        assert response.ok and response.headers["content-type"].startswith("image/"), url
