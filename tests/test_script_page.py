"""The script page (docs/hooks.md#script-library): a line-numbered editor from self-hosted
files, the parameters found in the body, the last tests, approval state and history, where
the script is used, and the Test and Approve buttons for those who may use them."""

import html
import re

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from playwright.sync_api import expect

from common.text import body_hash
from hooks.models import Script, ScriptParameter
from hooks.services.testing import create_test
from hooks.tasks import run_script_test
from repositories.models import Repository
from tests.factories import make_plan
from tests.hookkit import attach, make_script

BODY = '#!/bin/sh\necho "dumping ${DB_NAME:-app} as ${DB_USER}"\necho "token ${TOKEN}"\nexit 0\n'


def _text(response) -> str:
    return html.unescape(response.content.decode())


def _grant(user, *codenames):
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))


def _script(approved=False) -> Script:
    script = make_script("dump-db", BODY, approved=approved)
    ScriptParameter.objects.create(script=script, name="TOKEN", secret=True)
    return script


def _change(script) -> str:
    return reverse("admin:hooks_script_change", args=[script.pk])


@pytest.mark.django_db
def test_the_page_shows_detected_parameters_tests_and_where_it_is_used(admin_client):
    script = _script(approved=True)
    repository = Repository.objects.create(name="main", location="/backups/main", encryption="none")
    plan = make_plan("nightly", [repository], ["/srv"])
    attach(plan, script, "pre-backup", values={"TOKEN": "t"})
    attach(repository, script, "post-backup", order=2, enabled=False, values={"TOKEN": "t"})
    execution = create_test(script, "admin", repository, "pre-backup", "success", {"TOKEN": "t"})
    assert run_script_test(execution.pk) == "exit 0"

    response = admin_client.get(_change(script))
    page = _text(response)
    detected = re.search(r'<ul class="detected-parameters">(.*?)</ul>', page, re.S)[1]
    assert re.findall(r"<li>(.*?)</li>", detected) == [
        "<code>DB_NAME</code> (default app) — not declared",
        "<code>DB_USER</code> — not declared",
        "<code>TOKEN</code> — declared",
    ]
    tests = re.search(r'<table class="recent-tests">(.*?)</table>', page, re.S)[1]
    assert reverse("admin:hooks_scriptexecution_change", args=[execution.pk]) in tests
    assert "exit 0" in tests and "pre-backup" in tests and "admin" in tests
    usage = re.search(r'<ul class="script-usage">(.*?)</ul>', page, re.S)[1]
    assert f'href="{reverse("admin:repositories_backupplan_change", args=[plan.pk])}"' in usage
    assert f'href="{reverse("admin:repositories_repository_change", args=[repository.pk])}"' in usage
    assert "post-backup hook of repository" in usage and "(disabled)" in usage
    assert 'class="review-approved"' in page and '<span class="approved-by">tests</span>' in page
    assert body_hash(BODY) in page


@pytest.mark.django_db
def test_the_editor_is_self_hosted_and_the_page_has_no_inline_script(admin_client):
    page = _text(admin_client.get(_change(_script())))
    textarea = re.search(r"<textarea [^>]*name=\"body\"[^>]*>", page)[0]
    assert "data-code-editor" in textarea
    assert '<script src="/static/hooks/code-editor.js"></script>' in page
    assert 'href="/static/hooks/code-editor.css"' in page
    for tag in re.findall(r"<script\b[^>]*>", page):
        assert "src=" in tag or 'type="application/json"' in tag, tag
    assert "://" not in "".join(re.findall(r"<script\b[^>]*src=\"([^\"]*)\"", page))  # nothing from elsewhere
    for asset in ("hooks/code-editor.js", "hooks/code-editor.css"):
        assert admin_client.get(f"/static/{asset}").status_code == 200


@pytest.mark.django_db
def test_approve_shows_what_is_approved_and_only_a_post_approves(admin_client):
    script = _script()
    page = _text(admin_client.get(_change(script)))
    approve = reverse("admin:hooks_script_approve", args=[script.pk])
    assert f'<a href="{approve}" id="approve-script">Approve</a>' in page

    confirm = admin_client.get(approve)
    assert confirm.status_code == 200
    text = _text(confirm)
    assert body_hash(BODY) in text and 'echo "token ${TOKEN}"' in text and 'id="confirm-approve"' in text
    script.refresh_from_db()
    assert not script.is_approved  # a GET changes nothing

    response = admin_client.post(approve, follow=True)
    assert "Script dump-db approved" in _text(response)
    script.refresh_from_db()
    assert script.is_approved and script.approved_by == "admin"
    page = _text(admin_client.get(_change(script)))
    assert 'id="approve-script"' not in page
    history = re.search(r'id="approvals-group".*?</fieldset>', page, re.S)[0]
    assert body_hash(BODY) in history and "admin" in history
    assert admin_client.get(approve).status_code == 302  # nothing left to approve: back to the script


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("permissions", "sees_test", "sees_approve"),
    [
        (["view_script"], False, False),
        (["view_script", "test_script"], True, False),
        (["view_script", "change_script", "approve_script"], False, True),
    ],
)
def test_the_buttons_follow_the_permissions(client, staff, permissions, sees_test, sees_approve):
    script = _script()
    _grant(staff, *permissions)
    client.force_login(staff)
    page = _text(client.get(_change(script)))
    assert ('id="test-script"' in page) == sees_test
    assert ('id="approve-script"' in page) == sees_approve
    approve = reverse("admin:hooks_script_approve", args=[script.pk])
    assert client.get(approve).status_code == (200 if sees_approve else 403)
    if not sees_approve:
        assert client.post(approve).status_code == 403
        script.refresh_from_db()
        assert not script.is_approved


@pytest.mark.django_db(transaction=True)
def test_in_chromium_the_body_has_line_numbers_that_follow_the_text(admin, admin_login, page, live_server):
    script = _script()
    page.set_viewport_size({"width": 1280, "height": 800})
    admin_login(admin)
    page.goto(live_server.url + _change(script))
    body = page.locator("textarea[name=body]")
    expect(body).to_have_attribute("data-code-editor-ready", "true")
    gutter = page.locator(".code-editor .code-editor-gutter")
    assert gutter.inner_text().split() == ["1", "2", "3", "4", "5"]  # the last line ends with a newline
    assert "monospace" in body.evaluate("el => getComputedStyle(el).fontFamily")

    body.click()
    page.keyboard.press("Control+End")
    page.keyboard.type("echo one more\n")
    assert gutter.inner_text().split() == [str(n) for n in range(1, 7)]
    # The gutter sits left of the text, both visible within the page at 1280 px.
    gutter_box, body_box = gutter.bounding_box(), body.bounding_box()
    assert gutter_box["x"] + gutter_box["width"] <= body_box["x"] + 1
    assert body_box["x"] + body_box["width"] <= 1280

    page.click("#test-script")
    expect(page).to_have_url(re.compile(r"/test/$"))
    page.go_back()
    page.click("#approve-script")
    expect(page.locator("pre.script-body")).to_contain_text('echo "token ${TOKEN}"')
    page.click("#confirm-approve")
    expect(page.locator("ul.messagelist")).to_contain_text("Script dump-db approved")
    assert Script.objects.get(pk=script.pk).is_approved
