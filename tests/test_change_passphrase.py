"""Changing a repository's own passphrase from the admin (borg key change-passphrase).

The passphrase field only changes what borgui opens a repository with; "Change passphrase"
changes the repository's, and borgui keeps the new one (and the re-encrypted key file of
the keyfile modes), so backups and restores go on working with it alone.
"""

import subprocess
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from repositories.models import PlanRun, Repository, RepositoryLease
from repositories.services import runs
from tests.adminkit import form_data
from tests.factories import BORG, fresh_borg_env, make_plan, make_repository, make_source_tree

pytestmark = pytest.mark.django_db(transaction=True)

OLD = "old passphrase 4k2j"
# Spaces at the ends are part of a passphrase: the admin keeps them.
NEW = " new passphrase ü 9x7q "


def change_url(repository: Repository) -> str:
    return reverse("admin:repositories_repository_change_passphrase", args=[repository.pk])


def borg_list(repository: Repository, passphrase: str, home: Path) -> subprocess.CompletedProcess:
    """`borg list` by a person with nothing but PASSPHRASE (and borgui's stored key file)."""
    env = fresh_borg_env(home, BORG_PASSPHRASE=passphrase)
    if repository.exported_key:
        key_file = home / "key"
        key_file.write_text(repository.exported_key)
        env["BORG_KEY_FILE"] = str(key_file)
    return subprocess.run([BORG, "list", "--", repository.location], env=env, capture_output=True, text=True)


def post_change(client, repository: Repository, new: str, confirm: str | None = None):
    data = {"new_passphrase": new, "confirm_passphrase": new if confirm is None else confirm}
    return client.post(change_url(repository), data, follow=True)


def test_admin_changes_the_passphrase_and_the_next_backup_uses_it(admin, admin_login, page, live_server, tmp_path):
    repository = make_repository(tmp_path / "repo", encryption="repokey-blake2", passphrase=OLD)
    plan = make_plan("nightly", [repository], [make_source_tree(tmp_path / "src")])
    admin_login(admin)

    page.goto(live_server.url + reverse("admin:repositories_repository_change", args=[repository.pk]))
    page.click("#change-passphrase")
    expect(page.locator(".breadcrumbs")).to_contain_text("Repositories › main › Change passphrase")
    page.fill("#id_new_passphrase", NEW)
    page.fill("#id_confirm_passphrase", NEW)
    page.click("input[name=_change_passphrase]")
    expect(page.locator("ul.messagelist")).to_contain_text(
        "Passphrase of main changed: borgui uses the new one from now on.", timeout=30_000
    )

    repository.refresh_from_db()
    assert repository.passphrase == NEW
    assert runs.run_in_foreground(plan).status == "success"
    assert borg_list(repository, NEW, tmp_path / "new-home").returncode == 0
    refused = borg_list(repository, OLD, tmp_path / "old-home")
    assert refused.returncode == 2 and "passphrase supplied in BORG_PASSPHRASE" in refused.stderr


def test_keyfile_mode_keeps_the_re_encrypted_key_file(client, admin, tmp_path):
    repository = make_repository(tmp_path / "repo", encryption="keyfile-blake2", passphrase=OLD)
    old_key = repository.exported_key
    client.force_login(admin)

    response = post_change(client, repository, NEW)
    assert "Passphrase of main changed: borgui uses the new one from now on." in response.content.decode()

    repository.refresh_from_db()
    assert repository.passphrase == NEW and repository.exported_key != old_key
    # A new machine with only borgui's data opens the repository with the new passphrase.
    assert borg_list(repository, NEW, tmp_path / "home").returncode == 0


@pytest.mark.parametrize(
    "new, confirm, says",
    [
        (NEW, NEW + "x", "The two passphrases differ."),
        ("", "", "This field is required."),
    ],
)
def test_a_bad_form_changes_nothing_and_shows_only_what_was_typed(client, admin, tmp_path, new, confirm, says):
    repository = make_repository(tmp_path / "repo", encryption="repokey", passphrase=OLD)
    client.force_login(admin)

    response = post_change(client, repository, new, confirm)
    page = response.content.decode()
    assert says in page
    assert OLD not in page
    assert (f'value="{NEW}"' in page) == bool(new)  # kept for the next try
    repository.refresh_from_db()
    assert repository.passphrase == OLD
    assert borg_list(repository, OLD, tmp_path / "home").returncode == 0


def test_a_stored_passphrase_that_no_longer_opens_the_repository_is_reported(client, admin, tmp_path):
    repository = make_repository(tmp_path / "repo", encryption="repokey", passphrase=OLD)
    Repository.objects.filter(pk=repository.pk).update(passphrase="changed elsewhere")
    client.force_login(admin)

    page = post_change(client, repository, NEW).content.decode()
    assert "borg key change-passphrase failed: ERROR: passphrase supplied in BORG_PASSPHRASE" in page
    repository.refresh_from_db()
    assert repository.passphrase == "changed elsewhere"
    assert borg_list(repository, OLD, tmp_path / "home").returncode == 0


def test_refused_while_a_backup_writes_the_repository(client, admin, tmp_path):
    repository = make_repository(tmp_path / "repo", encryption="repokey", passphrase=OLD)
    plan = make_plan("nightly", [repository], [str(tmp_path)])
    run = PlanRun.objects.create(plan=plan, status="running", trigger="cli", started=timezone.now())
    RepositoryLease.objects.create(repository=repository, run=run, taken=timezone.now())
    client.force_login(admin)

    page = post_change(client, repository, NEW).content.decode()
    assert f"run {run.pk} of plan nightly is writing main; change the passphrase when it has finished" in page
    repository.refresh_from_db()
    assert repository.passphrase == OLD


def test_an_unencrypted_repository_has_no_passphrase_to_change(client, admin, tmp_path):
    repository = make_repository(tmp_path / "repo", encryption="none")
    client.force_login(admin)

    change_page = client.get(reverse("admin:repositories_repository_change", args=[repository.pk])).content.decode()
    assert 'id="change-passphrase"' not in change_page
    page = post_change(client, repository, NEW).content.decode()
    assert "repository main is not encrypted: it has no passphrase" in page
    repository.refresh_from_db()
    assert repository.passphrase == ""


def test_staff_who_may_only_view_repositories_cannot_change_the_passphrase(client, staff, tmp_path):
    repository = make_repository(tmp_path / "repo", encryption="repokey", passphrase=OLD, init=False)
    staff.user_permissions.add(Permission.objects.get(codename="view_repository"))
    client.force_login(staff)

    change_page = client.get(reverse("admin:repositories_repository_change", args=[repository.pk])).content.decode()
    assert 'id="change-passphrase"' not in change_page
    assert post_change(client, repository, NEW).status_code == 403
    repository.refresh_from_db()
    assert repository.passphrase == OLD


@pytest.mark.parametrize(("typed", "stored", "warned"), [(NEW, NEW, True), ("", OLD, False)])
def test_the_passphrase_field_replaces_only_what_borgui_stores(client, admin, tmp_path, typed, stored, warned):
    repository = make_repository(tmp_path / "repo", encryption="repokey", passphrase=OLD, init=False)
    client.force_login(admin)
    url = reverse("admin:repositories_repository_change", args=[repository.pk])

    page = client.post(url, {**form_data(client, url), "passphrase": typed}, follow=True).content.decode()
    assert "was changed successfully" in page
    warning = "Only the passphrase borgui opens main with was replaced, not the repository&#x27;s own"
    assert (warning in page) is warned
    repository.refresh_from_db()
    assert repository.passphrase == stored  # typed: exactly, spaces at its ends included; empty: kept
