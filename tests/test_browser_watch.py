"""The browser tests' watch on every page (tests/browserkit.py) sees what it must fail on:
a script the Content-Security-Policy blocks, a console error, an uncaught exception."""

import pytest
from playwright.sync_api import expect

from tests.browserkit import GROUP, VIEWPORT, PageProblems

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group(GROUP), pytest.mark.django_db(transaction=True)]

MARKERS = ["CSP script-src-elem blocked inline", "console: broken widget", "uncaught: boom"]


def test_the_watch_reports_a_blocked_inline_script_a_console_error_and_an_exception(borgui_server, browser):
    context = browser.new_context(viewport=VIEWPORT)
    problems = PageProblems(context)
    page = context.new_page()
    try:
        page.goto(f"{borgui_server.url}/admin/login/")
        expect(page.locator("#id_username")).to_be_visible()
        assert problems.found == []

        # What an injected inline script would be: borgui's policy allows scripts from itself only.
        page.evaluate("""() => {
            const script = document.createElement("script");
            script.textContent = "window.ranInline = true";
            document.body.append(script);
        }""")
        page.evaluate("() => console.error('broken widget')")
        page.evaluate("() => setTimeout(() => { throw new Error('boom') })")
        for _ in range(50):  # the events come back asynchronously; waiting lets Playwright take them
            if all(marker in "\n".join(problems.found) for marker in MARKERS):
                break
            page.wait_for_timeout(100)
        assert page.evaluate("() => window.ranInline") is None, "the policy let an inline script run"
    finally:
        context.close()
    text = "\n".join(problems.found)
    assert all(marker in text for marker in MARKERS), text
    with pytest.raises(AssertionError, match="the pages reported problems"):
        problems.assert_none()
