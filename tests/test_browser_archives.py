"""An archive browsed and a folder of it restored, in Chromium (tests/browserkit.py)."""

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from archives.models import RestoreJob
from tests.archivekit import indexed_archive, make_awkward_tree
from tests.browserkit import GROUP, expect_message, log_in, screenshot
from tests.conftest import PASSWORDS
from tests.factories import make_repository

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group(GROUP), pytest.mark.django_db(transaction=True)]


def test_an_archive_is_browsed_and_a_folder_restored(borgui_server, role_user, chromium_page, tmp_path):
    page = chromium_page
    repository = make_repository(tmp_path / "repo", name="local")
    source = make_awkward_tree(tmp_path / "src")
    indexed_archive(repository, source, "monday")
    user = role_user("operator")
    log_in(page, borgui_server, user.username, PASSWORDS[user.username])

    page.goto(f"{borgui_server.url}/admin/archives/archive/?repository__id__exact={repository.pk}")
    page.get_by_role("link", name="Browse").click()
    entries = page.locator("#archive-entries")
    expect(entries).to_contain_text("docs/")
    page.locator("#archive-entries a.dir", has_text="docs/").click()
    expect(entries).to_contain_text("report 2024.txt")
    expect(page.locator(".breadcrumbs")).to_contain_text("docs")
    screenshot(page, "archive-browser")

    page.locator("#archive-entries a", has_text="..").click()
    page.check("#archive-entries tr[data-path='docs'] input[type=checkbox]")
    page.click("#restore-selected")
    expect(page.locator("#restore-form")).to_contain_text("docs")
    target = Path(page.input_value("#id_target"))
    page.click("#start-restore")
    expect_message(page, "queued for a worker")
    job = RestoreJob.objects.get()
    expect(page).to_have_url(re.compile(rf"/admin/archives/restorejob/{job.pk}/change/$"))
    expect(page.locator(".field-status")).to_contain_text("success", ignore_case=True)

    assert (target / "docs" / "report 2024.txt").read_text() == (source / "docs" / "report 2024.txt").read_text()
    assert (target / "docs" / "sub dir" / "-leading-dash").exists()
    assert sorted(p.name for p in target.iterdir()) == ["docs"], "only the chosen folder"
