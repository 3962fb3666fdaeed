"""The script library in the admin: creating and reviewing scripts, permissions, script tests
and their result pages, script execution records.

Browser tests drive Chromium through the real admin; the Django test client is used where
a page is only read or a form posted (permissions, validation, query counts).
"""

import html
import re

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone
from django_q.models import OrmQ
from playwright.sync_api import expect

from hooks.models import HookAttachment, Script, ScriptExecution, ScriptParameter, body_hash
from hooks.services.testing import create_test
from hooks.tasks import run_script_test
from repositories.models import BackupPlan, PlanRun, Repository, RepositoryJob
from tests.adminkit import count_changelist_queries
from tests.hookkit import attach, make_script

STOP_BODY = """#!/usr/bin/env bash
set -euo pipefail
container="${CONTAINER_NAME:-postgres}"
echo "hook ${BORG_UI_HOOK_TYPE} for ${PATH:+a path}"
if docker ps --format '{{.Names}}' | grep -qx "$container"; then
  docker stop "$container"
fi
"""
SECRET = "tok-7Hq2-very-secret-zP9"

# What a test result prints: the simulated variables, a plain and a secret parameter.
PROBE_BODY = """#!/bin/sh
echo "hook=$BORG_UI_HOOK_TYPE status=$BORG_UI_BACKUP_STATUS repo=$BORG_UI_REPOSITORY_NAME container=$CONTAINER_NAME"
echo "token=$TOKEN"
echo "to stderr" >&2
exit 3
"""


def grant(user, *codenames: str) -> None:
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="hooks", codename__in=codenames))


def page_text(response) -> str:
    return html.unescape(response.content.decode())


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def script_post(name: str, body: str, params=(), initial: int = 0, **overrides) -> dict:
    """The script change form as the browser posts it (params: dicts of inline fields)."""
    data = {
        "name": name,
        "description": "",
        "body": body,
        "timeout": "300",
        "execution_target": "local",
        "parameters-TOTAL_FORMS": str(len(params)),
        "parameters-INITIAL_FORMS": str(initial),
        "parameters-MIN_NUM_FORMS": "0",
        "parameters-MAX_NUM_FORMS": "1000",
        "approvals-TOTAL_FORMS": "0",
        "approvals-INITIAL_FORMS": "0",
        "approvals-MIN_NUM_FORMS": "0",
        "approvals-MAX_NUM_FORMS": "1000",
        "_save": "Save",
    }
    for index, param in enumerate(params):
        for key, value in param.items():
            data[f"parameters-{index}-{key}"] = value
    data.update(overrides)
    return data


# --- creating a script: parameters proposed, approved at once for an approver ---------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_script_created_in_the_admin_gets_its_parameters_and_an_approvers_approval(
    admin, admin_login, page, live_server
):
    admin_login(admin)
    page.goto(live_server.url + reverse("admin:hooks_script_add"))
    editor = page.locator("#id_body")
    assert "monospace" in editor.evaluate("el => getComputedStyle(el).fontFamily")
    assert int(editor.get_attribute("rows")) >= 20
    page.fill("#id_name", "stop-db")
    page.fill("#id_description", "Stop the database container")
    editor.fill(STOP_BODY)
    page.click("input[name=_continue]")

    messages = page.locator("ul.messagelist")
    expect(messages).to_contain_text("Parameters found in the body and declared: CONTAINER_NAME (default postgres)")
    expect(messages).to_contain_text("Script stop-db approved")

    script = Script.objects.get(name="stop-db")
    assert script.body == STOP_BODY  # the browser's CRLF line ends are not stored
    # BORG_UI_HOOK_TYPE is reserved and PATH refused: neither is proposed.
    assert [(p.name, p.default, p.required, p.secret) for p in script.parameters.all()] == [
        ("CONTAINER_NAME", "postgres", False, False)
    ]
    assert script.is_approved and script.approved_by == "admin"
    assert [(a.content_hash, a.approved_by) for a in script.approvals.all()] == [(body_hash(STOP_BODY), "admin")]

    # The page after the save shows the review state, the history and the new parameter.
    review = page.locator(".field-review_state .readonly")
    expect(review).to_contain_text("approved by admin")
    expect(review).to_contain_text(body_hash(STOP_BODY))
    expect(page.locator("#approvals-group")).to_contain_text(body_hash(STOP_BODY))
    assert page.locator("#id_parameters-0-name").input_value() == "CONTAINER_NAME"
    assert page.locator("#id_parameters-0-default").input_value() == "postgres"
    assert page.locator("#approve-script").count() == 0  # nothing left to approve
    expect(page.locator(".field-usage .readonly")).to_have_text("Not attached to any repository or plan.")

    # Saving again proposes nothing new and keeps the approval.
    page.click("input[name=_continue]")
    expect(page.locator("ul.messagelist")).to_contain_text("was changed successfully")
    expect(page.locator("ul.messagelist")).not_to_contain_text("Parameters found")
    assert Script.objects.get(pk=script.pk).is_approved
    assert script.approvals.count() == 1 and script.parameters.count() == 1


# --- a staff member who may edit and test, but not approve ---------------------------------------


@pytest.fixture
def tester(staff):
    grant(staff, "view_script", "change_script", "test_script")
    return staff


@pytest.mark.django_db
def test_a_tester_edits_and_tests_but_cannot_approve(tester, admin, client):
    script = make_script("stop-db", STOP_BODY, {"CONTAINER_NAME": "postgres"})
    assert script.is_approved
    client.force_login(tester)
    change = reverse("admin:hooks_script_change", args=[script.pk])

    page = client.get(change)
    assert page.status_code == 200
    content = page_text(page)
    assert 'id="test-script"' in content and 'id="approve-script"' not in content

    # Editing the body clears the approval; the page says a reviewer must approve.
    new_body = STOP_BODY.replace("docker stop", "docker kill")
    response = client.post(change, script_post("stop-db", new_body), follow=True)
    assert response.status_code == 200
    script.refresh_from_db()
    assert script.body == new_body
    assert not script.is_approved and (script.approved_hash, script.approved_by) == ("", "")
    assert any("is not approved" in m and "A reviewer must approve it" in m for m in messages_of(response))
    assert "not approved" in page_text(client.get(change))

    # No way to approve: not the button's view, not the list action.
    assert client.post(reverse("admin:hooks_script_approve", args=[script.pk])).status_code == 403
    changelist = client.get(reverse("admin:hooks_script_changelist"))
    assert "approve_selected" not in page_text(changelist)
    client.post(
        reverse("admin:hooks_script_changelist"),
        {"action": "approve_selected", "_selected_action": [script.pk], "index": "0"},
    )
    script.refresh_from_db()
    assert not script.is_approved

    # But testing is allowed, approval or not.
    assert client.get(reverse("admin:hooks_script_test", args=[script.pk])).status_code == 200

    # A reviewer approves with the button; the history keeps both approvals.
    client.force_login(admin)
    assert 'id="approve-script"' in page_text(client.get(change))
    response = client.post(reverse("admin:hooks_script_approve", args=[script.pk]), follow=True)
    assert any("approved" in m for m in messages_of(response))
    script.refresh_from_db()
    assert script.is_approved and script.approved_by == "admin"
    assert [a.content_hash for a in script.approvals.all()] == [body_hash(new_body), body_hash(STOP_BODY)]


@pytest.mark.django_db
def test_testing_needs_the_test_permission_and_approving_the_approve_permission(staff, client):
    script = make_script("hello", "#!/bin/sh\necho hi\n", approved=False)
    grant(staff, "view_script", "change_script")
    client.force_login(staff)
    assert client.get(reverse("admin:hooks_script_test", args=[script.pk])).status_code == 403
    assert client.post(reverse("admin:hooks_script_test", args=[script.pk]), {}).status_code == 403
    assert 'id="test-script"' not in page_text(client.get(reverse("admin:hooks_script_change", args=[script.pk])))
    assert not ScriptExecution.objects.exists()

    # The approve permission alone (no superuser) approves, also by saving.
    grant(staff, "approve_script")
    client.force_login(staff)
    response = client.post(
        reverse("admin:hooks_script_change", args=[script.pk]), script_post("hello", "#!/bin/sh\necho hello\n")
    )
    assert response.status_code == 302
    script.refresh_from_db()
    assert script.is_approved and script.approved_by == "staff"


@pytest.mark.django_db
def test_approve_and_revoke_actions_for_reviewers(admin, client):
    first = make_script("first", "#!/bin/sh\necho 1\n", approved=False)
    second = make_script("second", "#!/bin/sh\necho 2\n", approved=False)
    client.force_login(admin)
    url = reverse("admin:hooks_script_changelist")
    client.post(url, {"action": "approve_selected", "_selected_action": [first.pk, second.pk], "index": "0"})
    mine = Script.objects.filter(pk__in=[first.pk, second.pk])
    assert all(s.is_approved for s in mine)
    client.post(url, {"action": "revoke_selected", "_selected_action": [second.pk], "index": "0"})
    assert [s.name for s in mine.all() if s.is_approved] == ["first"]


# --- refused parameter names: the model's clear errors ------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("PATH", "PATH: refused — a value for it could change what the script runs"),
        ("LD_PRELOAD", "LD_PRELOAD: refused"),
        ("BASH_ENV", "BASH_ENV: refused"),
        ("PYTHONPATH", "PYTHONPATH: refused"),
        ("BORG_PASSPHRASE", "BORG_PASSPHRASE: refused"),
        ("BORG_UI_REPOSITORY_ID", "names starting with BORG_UI_ are reserved"),
        ("9LIVES", "is not a variable name"),
    ],
)
def test_refused_parameter_names_are_errors_on_the_script_form(admin, client, name, message):
    client.force_login(admin)
    response = client.post(
        reverse("admin:hooks_script_add"),
        script_post("probe", "#!/bin/sh\necho hi\n", [{"name": name, "default": "x", "description": ""}]),
    )
    assert response.status_code == 200
    assert message in page_text(response)
    assert not Script.objects.filter(name="probe").exists()
    assert not ScriptParameter.objects.filter(name=name).exists()


@pytest.mark.django_db
def test_required_parameter_with_default_is_refused(admin, client):
    client.force_login(admin)
    response = client.post(
        reverse("admin:hooks_script_add"),
        script_post("probe", "#!/bin/sh\necho hi\n", [{"name": "TARGET", "default": "x", "required": "on"}]),
    )
    assert response.status_code == 200
    assert "A required parameter has no default" in page_text(response)
    assert not Script.objects.filter(name="probe").exists()


# --- the test flow: form → queued → a real worker → result page ------------------------------------


def _probe_script() -> Script:
    script = make_script("probe", PROBE_BODY, {"CONTAINER_NAME": "postgres"}, approved=False)
    ScriptParameter.objects.create(script=script, name="TOKEN", secret=True, description="API token")
    return script


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_script_test_from_the_admin_runs_on_a_worker_and_shows_its_result(
    tester, admin_login, page, live_server, qcluster
):
    script = _probe_script()  # not approved: a test needs the test permission only
    Repository.objects.create(name="main", location="/backups/main", encryption="none")
    admin_login(tester)
    page.goto(live_server.url + reverse("admin:hooks_script_change", args=[script.pk]))
    page.click("#test-script")

    assert page.locator("#id_param_TOKEN").get_attribute("type") == "password"
    page.select_option("#id_repository", label="main")
    page.select_option("#id_hook_type", "post-backup")
    page.select_option("#id_backup_status", "failure")
    page.fill("#id_param_CONTAINER_NAME", "db1")
    page.fill("#id_param_TOKEN", SECRET)
    page.click("input[name=_run_test]")

    # Queued, not run in the request: the result page waits and refreshes itself.
    expect(page).to_have_url(re.compile(r"/admin/hooks/scriptexecution/\d+/change/$"))
    execution = ScriptExecution.objects.get()
    assert (execution.hook_type, execution.state, execution.requested_by) == ("test", "pending", "staff")
    assert page.locator('meta[http-equiv="refresh"]').get_attribute("content") == "2"
    expect(page.locator(".execution-pending")).to_contain_text("refreshes every 2 seconds")
    assert [task.func() for task in OrmQ.objects.all()] == ["hooks.tasks.run_script_test"]

    qcluster()
    expect(page.locator(".field-outcome .readonly")).to_have_text("exit 3", timeout=60_000)
    assert page.locator('meta[http-equiv="refresh"]').count() == 0
    stdout = page.locator("pre.script-stdout").inner_text()
    assert stdout == "hook=post-backup status=failure repo=main container=db1\ntoken=***\n"
    assert page.locator("pre.script-stderr").inner_text() == "to stderr\n"
    assert page.locator(".field-exit_code .readonly").inner_text() == "3"
    assert page.locator(".field-cli_exit_code .readonly").inner_text() == "3"
    assert re.fullmatch(r"\d+\.\d\d s", page.locator(".field-duration_display .readonly").inner_text())
    assert page.locator(".field-test_parameters_display .readonly").inner_text() == "CONTAINER_NAME=db1, TOKEN=***"
    assert SECRET not in page.content()
    execution.refresh_from_db()
    assert SECRET not in execution.stdout + execution.stderr and execution.duration is not None


@pytest.mark.django_db
def test_a_refused_test_request_is_a_form_error_and_queues_nothing(tester, client):
    script = _probe_script()
    client.force_login(tester)
    url = reverse("admin:hooks_script_test", args=[script.pk])
    # A value for a parameter that is not (or no longer) declared: the service refuses it.
    response = client.post(url, {"hook_type": "pre-backup", "backup_status": "success", "param_GONE": "1"})
    assert response.status_code == 200
    assert "GONE: not a parameter of script probe" in page_text(response)
    assert not ScriptExecution.objects.exists() and not OrmQ.objects.exists()

    # Invalid choices are refused by the form itself; the secret just typed is kept for the next try.
    response = client.post(url, {"hook_type": "during-backup", "backup_status": "success", "param_TOKEN": SECRET})
    assert response.status_code == 200
    assert "Select a valid choice" in page_text(response)
    assert f'value="{SECRET}"' in response.content.decode()
    assert not ScriptExecution.objects.exists() and not OrmQ.objects.exists()


@pytest.mark.django_db
def test_required_parameters_must_be_given_in_the_test_form(tester, client):
    script = make_script("needs", "#!/bin/sh\necho $TARGET\n", approved=False)
    ScriptParameter.objects.create(script=script, name="TARGET", required=True)
    client.force_login(tester)
    url = reverse("admin:hooks_script_test", args=[script.pk])
    response = client.post(url, {"hook_type": "pre-backup", "backup_status": "success", "param_TARGET": ""})
    assert response.status_code == 200 and not ScriptExecution.objects.exists()
    response = client.post(url, {"hook_type": "pre-backup", "backup_status": "success", "param_TARGET": "x"})
    execution = ScriptExecution.objects.get()
    assert response.status_code == 302 and response.url == reverse(
        "admin:hooks_scriptexecution_change", args=[execution.pk]
    )
    assert (execution.test_hook_type, execution.test_backup_status) == ("pre-backup", "")


# --- secrets are never rendered back ---------------------------------------------------------------


@pytest.mark.django_db
def test_secret_values_appear_in_no_page_and_no_output(admin, client, tmp_path):
    script = _probe_script()
    token = script.parameters.get(name="TOKEN")
    repository = Repository.objects.create(name="main", location="/backups/main", encryption="none")
    attach(repository, script, "pre-backup", values={"TOKEN": SECRET, "CONTAINER_NAME": "db1"})
    execution = create_test(script, "admin", repository, "pre-backup", "success", {"TOKEN": SECRET})
    assert run_script_test(execution.pk) == "exit 3"
    execution.refresh_from_db()
    assert "token=***" in execution.stdout and SECRET not in execution.stdout

    client.force_login(admin)
    pages = {
        "script": reverse("admin:hooks_script_change", args=[script.pk]),
        "scripts": reverse("admin:hooks_script_changelist"),
        "test form": reverse("admin:hooks_script_test", args=[script.pk]),
        "execution": reverse("admin:hooks_scriptexecution_change", args=[execution.pk]),
        "executions": reverse("admin:hooks_scriptexecution_changelist"),
        "repository": reverse("admin:repositories_repository_change", args=[repository.pk]),
    }
    for what, url in pages.items():
        response = client.get(url)
        assert response.status_code == 200, what
        assert SECRET not in response.content.decode(), f"the secret is on the {what} page"
    assert "TOKEN=********" in page_text(client.get(pages["repository"]))
    assert "TOKEN=***" in page_text(client.get(pages["execution"]))

    # A secret parameter has no default (the model refuses one): typing one is refused.
    rows = [
        {"id": p.pk, "script": script.pk, "name": p.name, "default": "" if p.secret else p.default}
        | ({"secret": "on"} if p.secret else {})
        for p in script.parameters.all()
    ]
    response = client.post(pages["script"], script_post("probe", PROBE_BODY, rows, initial=len(rows)))
    assert response.status_code == 302
    assert ScriptParameter.objects.get(pk=token.pk).default == ""
    rows[-1]["default"] = "typed-secret-default"
    response = client.post(pages["script"], script_post("probe", PROBE_BODY, rows, initial=len(rows)))
    assert response.status_code == 200
    assert "A secret parameter takes no default here" in page_text(response)
    assert ScriptParameter.objects.get(pk=token.pk).default == ""


# --- script executions: read-only records -----------------------------------------------------------


@pytest.mark.django_db
def test_script_executions_cannot_be_added_or_changed(admin, client):
    script = make_script("hello", "#!/bin/sh\necho hello\n")
    execution = create_test(script, "admin")
    run_script_test(execution.pk)
    client.force_login(admin)
    assert client.get(reverse("admin:hooks_scriptexecution_add")).status_code == 403
    change = reverse("admin:hooks_scriptexecution_change", args=[execution.pk])
    assert client.post(change, {"stdout": "forged", "exit_code": "0"}).status_code == 403
    execution.refresh_from_db()
    assert execution.stdout == "hello\n"
    content = page_text(client.get(change))
    assert 'name="_save"' not in content and '<pre class="script-output script-stdout"' in content
    assert 'http-equiv="refresh"' not in content  # done: no refresh


@pytest.mark.django_db
def test_execution_list_filters(admin, client):
    script = make_script("hello", "#!/bin/sh\necho hello\n")
    run_script_test(create_test(script, "admin").pk)
    ScriptExecution.objects.create(script_name="pre_backup_script of main", hook_type="pre-backup", state="done")
    client.force_login(admin)
    url = reverse("admin:hooks_scriptexecution_changelist")
    assert client.get(url, {"hook_type": "test"}).context["cl"].result_count == 1
    assert client.get(url, {"hook_type": "pre-backup"}).context["cl"].result_count == 1
    assert client.get(url, {"script__id__exact": script.pk}).context["cl"].result_count == 1


# --- usage: where a script is attached ----------------------------------------------------------------


@pytest.mark.django_db
def test_usage_lists_and_links_the_attachments(admin, client):
    script = make_script("stop-db", STOP_BODY, {"CONTAINER_NAME": "postgres"})
    repository = Repository.objects.create(name="main", location="/backups/main", encryption="none")
    plan = BackupPlan.objects.create(name="nightly", sources=["/srv"])
    attach(repository, script, "pre-backup", order=2, values={"CONTAINER_NAME": "db1"})
    attach(plan, script, "post-backup", enabled=False)
    client.force_login(admin)
    content = page_text(client.get(reverse("admin:hooks_script_change", args=[script.pk])))
    repository_url = reverse("admin:repositories_repository_change", args=[repository.pk])
    plan_url = reverse("admin:repositories_backupplan_change", args=[plan.pk])
    assert f'pre-backup hook of repository <a href="{repository_url}">main</a> (order 2)' in content
    assert f'post-backup hook of plan <a href="{plan_url}">nightly</a> (order 0) (disabled)' in content


# --- changelists cost the same number of queries for 2 rows and for 20 --------------------------------


def _populate(count: int) -> None:
    start = Repository.objects.count()
    for index in range(start, start + count):
        script = make_script(f"script-{index}", f"#!/bin/sh\necho {index} $A $B\n", {"A": "1", "B": "2"})
        repository = Repository.objects.create(name=f"repo-{index}", location=f"/b/{index}", encryption="none")
        plan = BackupPlan.objects.create(name=f"plan-{index}", sources=["/srv"])
        attach(repository, script, "pre-backup")
        attach(plan, script, "post-backup")
        run = PlanRun.objects.create(plan=plan, trigger="cli", status="success", finished=timezone.now())
        job = RepositoryJob.objects.create(run=run, repository=repository, status="success")
        ScriptExecution.objects.create(script=script, script_name=script.name, run=run, hook_type="post-backup")
        ScriptExecution.objects.create(
            script=script, script_name=script.name, run=run, job=job, hook_type="pre-backup", state="done",
            exit_code=0, duration=0.01, started=timezone.now(), stdout="x" * 1000,
        )  # fmt: skip


@pytest.mark.django_db
@pytest.mark.parametrize(("model", "rows_per_batch"), [("script", 1), ("scriptexecution", 2)])
def test_changelist_query_count_does_not_grow_with_rows(admin, client, model, rows_per_batch):
    client.force_login(admin)
    url = reverse(f"admin:hooks_{model}_changelist")
    shipped = Script.objects.count() if model == "script" else 0  # the Docker templates
    _populate(2)
    few = count_changelist_queries(client, url, shipped + 2 * rows_per_batch)
    _populate(18)
    many = count_changelist_queries(client, url, shipped + 20 * rows_per_batch)
    assert many == few, f"{few} queries for 2 rows, {many} for 20"


@pytest.mark.django_db
def test_changelists_show_the_related_values(admin, client):
    """The values the query-count test makes cheap are really on the pages."""
    _populate(1)
    client.force_login(admin)
    scripts = page_text(client.get(reverse("admin:hooks_script_changelist")))
    assert "script-0" in scripts and "A, B" in scripts and 'alt="True"' in scripts
    assert HookAttachment.objects.count() == 2
    executions = page_text(client.get(reverse("admin:hooks_scriptexecution_changelist")))
    run = PlanRun.objects.get()
    assert f"{run.plan.name} #{run.pk}" in executions
    assert "(repo-0)" in executions and "exit 0" in executions and "0.01 s" in executions
    assert "x" * 1000 not in executions
