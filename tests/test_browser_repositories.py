"""A repository made and initialised in Chromium, as a new user does it (tests/browserkit.py)."""

import os
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import expect

from repositories import borg
from repositories.models import Repository
from tests.browserkit import GROUP, expect_message, log_in
from tests.conftest import PASSWORDS

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group(GROUP), pytest.mark.django_db(transaction=True)]

PASSPHRASE = "correct horse battery staple 42"


def test_a_new_repository_is_created_and_initialised_from_its_page(borgui_server, role_user, chromium_page):
    page = chromium_page
    user = role_user("admin")
    location = Path(os.environ["BORGUI_DATA_DIR"]) / "browser-repositories" / uuid.uuid4().hex[:8]
    location.parent.mkdir(exist_ok=True)  # borg init makes the repository's directory, not its parent
    log_in(page, borgui_server, user.username, PASSWORDS[user.username])

    page.goto(f"{borgui_server.url}/admin/repositories/repository/add/")
    page.fill("#id_name", "offsite")
    page.fill("#id_location", str(location))
    page.select_option("#id_encryption", "repokey-blake2")
    page.fill("#id_passphrase", PASSPHRASE)
    page.click("input[name=_continue]")
    expect_message(page, "was added successfully")
    repository = Repository.objects.get(name="offsite")
    assert PASSPHRASE not in page.content()

    page.click("#initialise")
    expect(page.locator("#confirmation")).to_contain_text(f"borg init --encryption=repokey-blake2 {location}")
    page.click("#confirm")
    # The page follows the worker until borg is done.
    expect_message(page, "offsite: initialised (repokey-blake2)")
    assert (location / "config").exists()
    assert PASSPHRASE not in page.content()
    listing = borg.list_archives(Repository.objects.get(pk=repository.pk))
    assert listing.ok and listing.json()["archives"] == []

    page.get_by_role("link", name="Back to offsite").click()
    expect(page.locator("#change-passphrase")).to_be_visible()
    expect(page.locator("#initialise")).to_have_count(0)  # done once
