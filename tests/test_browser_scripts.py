"""A script made from a ready template, tested against a real container, in Chromium
(tests/browserkit.py)."""

import re

import pytest
from playwright.sync_api import expect

from hooks.docker_templates import STOP, sync_templates
from hooks.models import Script
from tests.browserkit import GROUP, expect_message, log_in, screenshot
from tests.conftest import PASSWORDS

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group(GROUP), pytest.mark.django_db(transaction=True)]


def test_a_script_from_a_template_is_tested_and_its_output_shown(borgui_server, dockerd, role_user, chromium_page):
    page = chromium_page
    sync_templates()  # a transactional test before this one may have emptied the library
    dockerd.run_container("app-db")
    user = role_user("admin")
    log_in(page, borgui_server, user.username, PASSWORDS[user.username])

    # The template's text, copied into a script of one's own.
    page.goto(f"{borgui_server.url}/admin/hooks/script/?is_template__exact=1")
    page.get_by_role("link", name=STOP.name, exact=True).click()
    body = page.input_value("#id_body")
    assert body == STOP.body
    page.goto(f"{borgui_server.url}/admin/hooks/script/add/")
    page.fill("#id_name", "stop-app-db")
    page.fill("#id_body", body)
    page.click("input[name=_continue]")
    expect_message(page, "Parameters found in the body and declared: CONTAINER_NAME (default postgres)")
    expect_message(page, "Script stop-app-db approved")
    script = Script.objects.get(name="stop-app-db")

    page.click("#test-script")
    expect(page.locator("h1")).to_contain_text("Test stop-app-db")
    page.fill("#id_param_CONTAINER_NAME", "app-db")
    page.click("input[name=_run_test]")
    expect_message(page, "Test of stop-app-db queued")
    # The page follows the worker until the test is done.
    expect(page.locator(".field-stdout_display")).to_contain_text("stopped app-db")
    expect(page.locator(".field-outcome")).to_contain_text("exit 0")
    assert dockerd.state("app-db") == "exited"

    page.goto(f"{borgui_server.url}/admin/hooks/script/{script.pk}/change/")
    expect(page.locator(".field-review_state")).to_contain_text("approved")
    # The editor numbers every line of the body; the page lists what the body uses and the test.
    lines = body.count("\n") + 1
    expect(page.locator(".code-editor-gutter")).to_have_text(re.compile(rf"^1\n2\n.*\n{lines}\n?$", re.S))
    expect(page.locator(".detected-parameters")).to_contain_text("CONTAINER_NAME (default postgres) — declared")
    expect(page.locator(".recent-tests")).to_contain_text("exit 0")
    screenshot(page, "script")
