"""Hooks on the repository, plan and run pages: library attachments (parameter values, secrets,
refused names, pre/post rules), legacy inline hooks and their review, hook runs of a run.
"""

import html

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from playwright.sync_api import expect

from hooks.models import HookAttachment, ScriptParameter, body_hash
from repositories.models import Repository
from tests.adminkit import form_data
from tests.factories import make_plan
from tests.hookkit import attach, make_script

SECRET = "pw-Zx81-never-shown-q7"
INLINE = "#!/bin/sh\necho inline pre hook\n"


def grant(user, *codenames: str) -> None:
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))


def page_text(response) -> str:
    return html.unescape(response.content.decode())


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def add_row(data: dict, prefix: str, **fields) -> dict:
    """Fill the inline's next empty form (the admin renders one extra)."""
    index = int(data[f"{prefix}-TOTAL_FORMS"]) - 1
    assert not data.get(f"{prefix}-{index}-script"), "the extra form is taken"
    for key, value in fields.items():
        data[f"{prefix}-{index}-{key}"] = value
    return data


def plain_repository(name="main") -> Repository:
    return Repository.objects.create(name=name, location=f"/backups/{name}", encryption="none")


def stop_db():
    return make_script(
        "stop-db", '#!/bin/sh\ndocker stop "${CONTAINER_NAME:-postgres}"\n', {"CONTAINER_NAME": "postgres"}
    )


# --- attachments on a repository, through the browser -------------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_attach_a_script_to_a_repository_with_its_parameter_value(admin, admin_login, page, live_server):
    script = stop_db()
    repository = plain_repository()
    admin_login(admin)
    url = live_server.url + reverse("admin:repositories_repository_change", args=[repository.pk])
    page.goto(url)
    page.select_option("#id_hook_attachments-0-script", label="stop-db")
    page.select_option("#id_hook_attachments-0-hook_type", "pre-backup")
    page.fill("#id_hook_attachments-0-order", "1")
    page.select_option("#id_hook_attachments-0-on_failure", "skip")
    page.fill("#id_hook_attachments-0-parameter_values", "CONTAINER_NAME=db1")
    page.click("input[name=_continue]")
    expect(page.locator("ul.messagelist")).to_contain_text("was changed successfully")

    attachment = HookAttachment.objects.get()
    assert (attachment.repository, attachment.plan, attachment.script) == (repository, None, script)
    assert (attachment.hook_type, attachment.order, attachment.on_failure, attachment.enabled) == (
        "pre-backup", 1, "skip", True,
    )  # fmt: skip
    assert attachment.values() == {"CONTAINER_NAME": "db1"}
    assert page.locator("#id_hook_attachments-0-parameter_values").input_value() == "CONTAINER_NAME=db1"

    # An undeclared name is refused with the model's message, and nothing on the page is saved.
    page.fill("#id_hook_attachments-0-parameter_values", "CONTAINER_NAME=db2\nPATH=/tmp")
    page.locator("fieldset.collapse summary", has_text="Legacy inline hooks").click()  # folded away
    page.fill("#id_pre_backup_script", "#!/bin/sh\necho not saved\n")
    page.click("input[name=_continue]")
    errors = page.locator("#hook_attachments-group .errorlist")
    expect(errors).to_contain_text("PATH: not a parameter of script stop-db (declared: CONTAINER_NAME).")
    expect(page.locator(".errornote")).to_be_visible()
    attachment.refresh_from_db()
    assert attachment.values() == {"CONTAINER_NAME": "db1"}
    assert Repository.objects.get(pk=repository.pk).pre_backup_script == ""


# --- who may edit attachments still cannot smuggle code in through parameter names -----------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "line",
    ["PATH=/tmp/evil", "LD_PRELOAD=/tmp/evil.so", "BASH_ENV=/tmp/evil.sh", "PYTHONSTARTUP=/tmp/x.py",
     "BORG_UI_HOOK_TYPE=post-backup", "NODE_OPTIONS=--require /tmp/x.js", "IFS=/"],
)  # fmt: skip
def test_an_attachment_editor_cannot_set_undeclared_variables(staff, client, line):
    stop_db()
    repository = plain_repository()
    grant(staff, "view_repository", "change_repository", "view_script")
    grant(staff, "view_hookattachment", "add_hookattachment", "change_hookattachment", "delete_hookattachment")
    client.force_login(staff)
    url = reverse("admin:repositories_repository_change", args=[repository.pk])
    data = add_row(form_data(client, url), "hook_attachments", script=str(stop_db_pk()), hook_type="pre-backup")
    data["hook_attachments-0-parameter_values"] = f"CONTAINER_NAME=db1\n{line}"
    response = client.post(url, data)
    assert response.status_code == 200
    name = line.split("=")[0]
    assert f"{name}: not a parameter of script stop-db" in page_text(response)
    assert not HookAttachment.objects.exists()


def stop_db_pk() -> int:
    return ScriptParameter.objects.get(name="CONTAINER_NAME", script__name="stop-db").script_id


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("hook_type", "on_failure", "run_on", "error"),
    [
        ("pre-backup", "skip", "", None),
        ("pre-backup", "continue", "", None),
        ("pre-backup", "fail", "always", "run_on applies to post-backup hooks only."),
        ("post-backup", "skip", "", "A post-backup hook's on_failure is fail or continue."),
        ("post-backup", "fail", "failure", None),
        ("post-backup", "", "", None),
    ],
)
def test_plan_attachments_follow_the_pre_and_post_rules(admin, client, hook_type, on_failure, run_on, error):
    stop_db()
    plan = make_plan("nightly", [plain_repository()], ["/srv"])
    client.force_login(admin)
    url = reverse("admin:repositories_backupplan_change", args=[plan.pk])
    data = add_row(
        form_data(client, url), "hook_attachments",
        script=str(stop_db_pk()), hook_type=hook_type, order="0", on_failure=on_failure, run_on=run_on,
        parameter_values="CONTAINER_NAME=mariadb",
    )  # fmt: skip
    response = client.post(url, data)
    if error:
        assert response.status_code == 200 and error in page_text(response)
        assert not HookAttachment.objects.exists()
    else:
        assert response.status_code == 302, page_text(response)
        attachment = HookAttachment.objects.get()
        assert (attachment.plan, attachment.repository) == (plan, None)
        assert (attachment.hook_type, attachment.on_failure, attachment.run_on) == (hook_type, on_failure, run_on)
        assert attachment.values() == {"CONTAINER_NAME": "mariadb"}


# --- secret parameter values: encrypted, never rendered back, kept unless retyped -------------------


@pytest.mark.django_db
def test_secret_attachment_values_are_never_rendered_back(admin, client):
    script = make_script("dump", '#!/bin/sh\necho "$DB_USER"\n', {"DB_USER": "postgres"})
    ScriptParameter.objects.create(script=script, name="DB_PASSWORD", secret=True)
    repository = plain_repository()
    attachment = attach(repository, script, "pre-backup", values={"DB_USER": "backup", "DB_PASSWORD": SECRET})
    client.force_login(admin)
    url = reverse("admin:repositories_repository_change", args=[repository.pk])
    field = "hook_attachments-0-parameter_values"

    page = client.get(url)
    assert SECRET not in page.content.decode()
    data = form_data(client, url)
    assert data[field].splitlines() == ["DB_PASSWORD=********", "DB_USER=backup"]

    def post(text: str):
        return client.post(url, {**data, field: text})

    # The placeholder, or an empty value, keeps the stored secret.
    assert post("DB_PASSWORD=********\nDB_USER=admin").status_code == 302
    attachment.refresh_from_db()
    assert attachment.values() == {"DB_USER": "admin", "DB_PASSWORD": SECRET}
    assert post("DB_PASSWORD=\nDB_USER=admin").status_code == 302
    attachment.refresh_from_db()
    assert attachment.values() == {"DB_USER": "admin", "DB_PASSWORD": SECRET}

    # A form that comes back with an error keeps what was just typed, never the stored secret.
    response = post("DB_PASSWORD=new-secret-typed-4k\nDB_USER=admin\nLD_PRELOAD=/x.so")
    assert response.status_code == 200
    assert SECRET not in response.content.decode()
    assert "DB_PASSWORD=new-secret-typed-4k\nDB_USER=admin\nLD_PRELOAD=/x.so" in page_text(response)

    # Typing a value replaces it; deleting the line removes it.
    assert post("DB_PASSWORD=new-secret-typed-4k\nDB_USER=admin").status_code == 302
    attachment.refresh_from_db()
    assert attachment.values() == {"DB_USER": "admin", "DB_PASSWORD": "new-secret-typed-4k"}
    assert post("DB_USER=admin").status_code == 302
    attachment.refresh_from_db()
    assert attachment.values() == {"DB_USER": "admin"}

    # The placeholder with nothing stored asks for the value.
    response = post("DB_PASSWORD=********")
    assert response.status_code == 200 and "DB_PASSWORD: type the secret value" in page_text(response)
    # Lines that are not NAME=value are refused.
    response = post("DB_USER admin")
    assert response.status_code == 200 and "line 1: write NAME=value" in page_text(response)


@pytest.mark.django_db
def test_a_post_without_the_attachment_inline_leaves_attachments_alone(admin, client):
    """A client that did not show the inline (no management form) changes no attachment."""
    script = stop_db()
    repository = plain_repository()
    attach(repository, script, "pre-backup", values={"CONTAINER_NAME": "db1"})
    client.force_login(admin)
    url = reverse("admin:repositories_repository_change", args=[repository.pk])
    data = {k: v for k, v in form_data(client, url).items() if not k.startswith("hook_attachments-")}
    assert client.post(url, {**data, "name": "renamed"}).status_code == 302
    assert Repository.objects.get().name == "renamed"
    assert HookAttachment.objects.get().values() == {"CONTAINER_NAME": "db1"}


# --- legacy inline hooks: the same review rule ----------------------------------------------------


@pytest.mark.django_db
def test_inline_hooks_are_approved_by_a_reviewers_save_only(staff, admin, client):
    repository = plain_repository()
    grant(staff, "view_repository", "change_repository")
    url = reverse("admin:repositories_repository_change", args=[repository.pk])

    # A staff member without the approve permission: saved, but not approved, and told so.
    client.force_login(staff)
    data = form_data(client, url)
    textarea = page_text(client.get(url)).split('id="id_pre_backup_script"')[0].rsplit("<textarea", 1)[1]
    assert "data-code-editor" in textarea  # the monospace editor with line numbers
    response = client.post(url, {**data, "pre_backup_script": INLINE.replace("\n", "\r\n")}, follow=True)
    assert response.status_code == 200
    repository.refresh_from_db()
    assert repository.pre_backup_script == INLINE  # browsers' CRLF stored as LF
    assert not repository.inline_hook_approved("pre-backup")
    assert any("pre_backup_script of main is not approved" in m for m in messages_of(response))
    assert "Review: NOT APPROVED" in page_text(client.get(url))

    # A reviewer's save approves what they saw.
    client.force_login(admin)
    assert client.post(url, form_data(client, url)).status_code == 302
    repository.refresh_from_db()
    assert repository.inline_hook_approved("pre-backup")
    assert repository.pre_backup_approved_hash == body_hash(INLINE)
    assert "Review: approved." in page_text(client.get(url))

    # The staff member saving the page without touching the hook keeps the approval
    # (the textarea comes back with CRLF line ends, as from a browser) ...
    client.force_login(staff)
    data = form_data(client, url)
    data["pre_backup_script"] = data["pre_backup_script"].replace("\n", "\r\n")
    assert client.post(url, {**data, "name": "renamed"}).status_code == 302
    repository.refresh_from_db()
    assert repository.name == "renamed" and repository.inline_hook_approved("pre-backup")

    # ... and changing it (or adding a post hook) leaves the changed one unapproved.
    post_body = "#!/bin/sh\necho post\n"
    response = client.post(url, {**form_data(client, url), "post_backup_script": post_body}, follow=True)
    repository.refresh_from_db()
    assert repository.inline_hook_approved("pre-backup") and not repository.inline_hook_approved("post-backup")
    assert any("post_backup_script of renamed is not approved" in m for m in messages_of(response))

    # The approve permission (not being a superuser) is what approves.
    grant(staff, "approve_script")
    client.force_login(staff)
    assert client.post(url, form_data(client, url)).status_code == 302
    repository.refresh_from_db()
    assert repository.inline_hook_approved("pre-backup") and repository.inline_hook_approved("post-backup")


# --- the run page lists its hook runs in order, with output -------------------------------------------


@pytest.mark.django_db
def test_a_viewer_sees_no_secret_either(staff, client):
    script = make_script("dump", '#!/bin/sh\necho "$DB_USER"\n', {"DB_USER": "postgres"})
    ScriptParameter.objects.create(script=script, name="DB_PASSWORD", secret=True, default=f"{SECRET}-default")
    repository = plain_repository()
    attach(repository, script, "pre-backup", values={"DB_USER": "backup", "DB_PASSWORD": SECRET})
    grant(staff, "view_repository", "view_hookattachment", "view_script", "view_scriptparameter")
    client.force_login(staff)

    repository_page = client.get(reverse("admin:repositories_repository_change", args=[repository.pk]))
    assert repository_page.status_code == 200
    assert SECRET not in repository_page.content.decode()
    assert "DB_PASSWORD=********\nDB_USER=backup" in page_text(repository_page)

    script_page = client.get(reverse("admin:hooks_script_change", args=[script.pk]))
    assert script_page.status_code == 200
    assert SECRET not in script_page.content.decode() and "(set, hidden)" in page_text(script_page)
