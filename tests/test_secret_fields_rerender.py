"""A form that comes back with an error keeps the secret just typed into it; a stored secret
is never rendered (docs/hooks.md#secrets-and-masking). One case per secret field."""

import html

import pytest
from django.urls import reverse

from hooks.models import ScriptParameter
from notifications.models import Channel, PlanMonitoring
from repositories.models import Repository, SSHConnection
from tests.adminkit import form_data, shown_value
from tests.factories import make_plan
from tests.hookkit import attach, make_script

pytestmark = pytest.mark.django_db

TYPED = "typed <secret> & 'quoted' 7q2"  # markup characters: escaped, yet the same value
STORED = "stored-secret-9f3k"
KEY_TYPED = "-----BEGIN OPENSSH PRIVATE KEY-----\ntyped-key-line-4h1\n-----END OPENSSH PRIVATE KEY-----"
KEY_STORED = "-----BEGIN OPENSSH PRIVATE KEY-----\nstored-key-line-8m2\n-----END OPENSSH PRIVATE KEY-----"


def _text(response) -> str:
    return html.unescape(response.content.decode())


# (label, make the stored object -> its change URL, add URL, the secret field, a bad change of
#  another field, the stored secret, a typed secret, other fields of a valid post)
def _repository(stored):
    repository = Repository.objects.create(
        name="main", location="/backups/main", encryption="repokey", passphrase=stored
    )
    return reverse("admin:repositories_repository_change", args=[repository.pk])


def _keyfile_repository(stored):
    repository = Repository.objects.create(
        name="main", location="/backups/main", encryption="keyfile", passphrase="p", exported_key=stored
    )
    return reverse("admin:repositories_repository_change", args=[repository.pk])


def _connection(stored):
    connection = SSHConnection.objects.create(name="nas", host="nas.example", username="borg", private_key=stored)
    return reverse("admin:repositories_sshconnection_change", args=[connection.pk])


def _channel(stored):
    channel = Channel.objects.create(name="phone", url=f"json://127.0.0.1:9/{stored}")
    return reverse("admin:notifications_channel_change", args=[channel.pk])


REPOSITORY_POST = {"name": "new-repo", "location": "/backups/new", "encryption": "repokey", "source_connection": ""}
CASES = [
    (
        "repository passphrase", _repository, "admin:repositories_repository_add", "passphrase",
        {"location": "/backups/a::b"}, STORED, TYPED, REPOSITORY_POST,
    ),
    (
        "repository key file", _keyfile_repository, "admin:repositories_repository_add", "exported_key",
        {"location": "/backups/a::b"}, KEY_STORED, KEY_TYPED,
        {**REPOSITORY_POST, "encryption": "keyfile", "passphrase": "p"},
    ),
    (
        "SSH private key", _connection, "admin:repositories_sshconnection_add", "private_key",
        {"name": "bad name"}, KEY_STORED, KEY_TYPED,
        {"name": "nas2", "host": "nas.example", "port": "22", "username": "borg"},
    ),
    (
        "channel URL", _channel, "admin:notifications_channel_add", "url",
        {"name": "bad name"}, f"json://127.0.0.1:9/{STORED}", "json://127.0.0.1:9/typed<secret>&'quoted'7q2",
        {"name": "phone2", "events": ["failure"], "all_plans": "on"},
    ),
]  # fmt: skip
IDS = [case[0] for case in CASES]


@pytest.mark.parametrize(("label", "make", "add", "field", "bad", "stored", "typed", "post"), CASES, ids=IDS)
def test_a_bounced_add_form_keeps_the_typed_secret_and_the_fixed_one_saves_it(
    admin_client, label, make, add, field, bad, stored, typed, post
):
    url = reverse(add)
    response = admin_client.post(url, {**post, field: typed, **bad})
    assert response.status_code == 200, label
    assert response.context["adminform"].form.errors
    assert shown_value(response, field).replace("\r\n", "\n") == typed

    # The user fixes the other field and sends the form as it came back: the secret is saved.
    response = admin_client.post(url, {**post, field: shown_value(response, field)})
    assert response.status_code == 302, response.context["adminform"].form.errors
    model = response.wsgi_request.resolver_match.func.model_admin.model
    assert getattr(model.objects.get(name=post["name"]), field).replace("\r\n", "\n") == typed


@pytest.mark.parametrize(("label", "make", "add", "field", "bad", "stored", "typed", "post"), CASES, ids=IDS)
def test_an_edit_form_never_shows_the_stored_secret(admin_client, label, make, add, field, bad, stored, typed, post):
    url = make(stored)
    page = admin_client.get(url)
    assert shown_value(page, field) == "", label
    assert "Set — leave empty to keep it." in _text(page)
    assert STORED not in _text(page) and "stored-key-line" not in _text(page)

    # Bounced without a new secret: still empty. Bounced with one: the typed one, never the stored.
    data = {**form_data(admin_client, url), **bad}
    response = admin_client.post(url, data)
    assert response.status_code == 200
    assert shown_value(response, field) == ""
    response = admin_client.post(url, {**data, field: typed})
    assert response.status_code == 200
    assert shown_value(response, field).replace("\r\n", "\n") == typed
    assert STORED not in _text(response) and "stored-key-line" not in _text(response)


def test_the_ping_url_is_kept_when_the_plan_form_bounces(admin_client):
    repository = Repository.objects.create(name="main", location="/backups/main", encryption="none")
    plan = make_plan("nightly", [repository], ["/srv"])
    url = reverse("admin:repositories_backupplan_change", args=[plan.pk])
    data = form_data(admin_client, url)
    typed = "https://hc.example/ping/typed-uuid-5j"
    response = admin_client.post(url, {**data, "monitoring-0-ping_url": typed, "schedule": "61 * * * *"})
    assert response.status_code == 200
    assert shown_value(response, "monitoring-0-ping_url") == typed
    response = admin_client.post(url, {**data, "monitoring-0-ping_url": typed})
    assert response.status_code == 302
    assert PlanMonitoring.objects.get(plan=plan).ping_url == typed
    assert shown_value(admin_client.get(url), "monitoring-0-ping_url") == ""
    assert "typed-uuid-5j" not in _text(admin_client.get(url))


def test_the_script_test_form_keeps_a_typed_secret_parameter(admin_client):
    script = make_script("probe", "#!/bin/sh\necho hi\n")
    ScriptParameter.objects.create(script=script, name="TOKEN", secret=True)
    url = reverse("admin:hooks_script_test", args=[script.pk])
    assert shown_value(admin_client.get(url), "param_TOKEN") == ""
    response = admin_client.post(url, {"hook_type": "during-backup", "backup_status": "success", "param_TOKEN": TYPED})
    assert response.status_code == 200
    assert shown_value(response, "param_TOKEN") == TYPED


def test_the_change_passphrase_form_keeps_what_was_typed(admin_client):
    repository = Repository.objects.create(
        name="main", location="/backups/main", encryption="repokey", passphrase=STORED
    )
    url = reverse("admin:repositories_repository_change_passphrase", args=[repository.pk])
    response = admin_client.post(url, {"new_passphrase": TYPED, "confirm_passphrase": TYPED + "x"})
    assert "The two passphrases differ." in _text(response)
    assert shown_value(response, "new_passphrase") == TYPED
    assert shown_value(response, "confirm_passphrase") == TYPED + "x"
    assert STORED not in _text(response)


def test_a_secret_attachment_value_typed_into_a_bounced_form_is_kept(admin_client):
    script = make_script("dump", '#!/bin/sh\necho "$DB_USER"\n', {"DB_USER": "postgres"})
    ScriptParameter.objects.create(script=script, name="DB_PASSWORD", secret=True)
    repository = Repository.objects.create(name="main", location="/backups/main", encryption="none")
    attach(repository, script, "pre-backup", values={"DB_USER": "backup", "DB_PASSWORD": STORED})
    url = reverse("admin:repositories_repository_change", args=[repository.pk])
    field = "hook_attachments-0-parameter_values"
    data = form_data(admin_client, url)
    assert data[field].splitlines() == ["DB_PASSWORD=********", "DB_USER=backup"]
    response = admin_client.post(url, {**data, field: "DB_PASSWORD=new-typed-3z\nDB_USER=admin", "location": "a::b"})
    assert response.status_code == 200
    assert shown_value(response, field).splitlines() == ["DB_PASSWORD=new-typed-3z", "DB_USER=admin"]
    assert STORED not in _text(response)
