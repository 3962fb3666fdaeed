"""The archive pages of the admin (docs/archives.md): list, browse, search, index built on
the worker, restore queued on the worker; Chromium for what a person does."""

import filecmp
import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from playwright.sync_api import expect

from archives.models import Archive, ArchiveIndex, RestoreJob
from archives.services import catalog, index, restore
from tests.adminkit import count_changelist_queries
from tests.archivekit import create_archive, indexed_archive, make_awkward_tree
from tests.factories import make_repository

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def archive(tmp_path):
    repository = make_repository(tmp_path / "repo")
    source = make_awkward_tree(tmp_path / "src")
    create_archive(repository, source, "a1")
    catalog.refresh(repository)
    return catalog.resolve(repository, "a1", fresh=False), source


def _browse_url(archive, **params):
    from urllib.parse import urlencode

    url = reverse("admin:archives_archive_browse", args=[archive.pk])
    return url + ("?" + urlencode(params) if params else "")


def test_browse_without_an_index_queues_it_and_says_so(client, admin, archive):
    found, _ = archive
    client.force_login(admin)
    response = client.get(_browse_url(found))
    assert response.status_code == 200 and b"being built on the worker" in response.content
    assert b'http-equiv="refresh"' in response.content
    assert ArchiveIndex.objects.get(archive=found).state == "queued"


def test_browse_page_directories_first_with_sizes_and_breadcrumbs(client, admin, archive):
    found, _ = archive
    index.ensure(found)
    client.force_login(admin)
    page = client.get(_browse_url(found, path="/docs"))
    text = page.content.decode()
    assert page.status_code == 200
    names = [entry.path for entry in page.context["entries"]]
    assert names == ["docs/sub dir", "docs/page.html", "docs/private.key", "docs/report 2024.txt"]
    assert "900 B" in text  # report 2024.txt, human size
    assert 'href="?path=docs/sub%20dir"' in text
    assert client.get(_browse_url(found, path="run.sh")).status_code == 404  # not a directory
    search = client.get(_browse_url(found, q="ünï"))
    assert [e.path for e in search.context["entries"]] == ["ünïcødé", "ünïcødé/naïve – “quoted”.txt"]


def test_a_huge_directory_is_paginated_with_constant_queries(client, admin, tmp_path):
    repository = make_repository(tmp_path / "repo")
    source = tmp_path / "src"
    (source / "many").mkdir(parents=True)
    for n in range(1200):
        (source / "many" / f"f{n:05d}").write_bytes(b"")
    found = indexed_archive(repository, source, "a")
    client.force_login(admin)
    with CaptureQueriesContext(connection) as first:
        page1 = client.get(_browse_url(found, path="many"))
    with CaptureQueriesContext(connection) as third:
        page3 = client.get(_browse_url(found, path="many", page=3))
    assert len(page1.context["entries"]) == 500 and len(page3.context["entries"]) == 200
    assert page3.context["entries"][0].name == "f01000"
    assert len(first) == len(third)


def test_archive_list_of_a_repository_queues_a_first_refresh(client, admin, tmp_path):
    repository = make_repository(tmp_path / "repo")
    client.force_login(admin)
    url = reverse("admin:archives_archive_changelist") + f"?repository__id__exact={repository.pk}"
    response = client.get(url)
    assert b"Reading the archive list of main from borg on the worker" in response.content
    assert count_changelist_queries(client, url, 0) < 20


def test_list_page_query_count_does_not_grow_with_archives(client, admin, archive, tmp_path):
    found, source = archive
    client.force_login(admin)
    url = reverse("admin:archives_archive_changelist") + f"?repository__id__exact={found.repository_id}"
    one = count_changelist_queries(client, url, 1)
    for name in ("a2", "a3", "a4"):
        create_archive(found.repository, source, name)
    catalog.refresh(found.repository)
    assert count_changelist_queries(client, url, 4) == one


@pytest.fixture
def restore_root(tmp_path, settings):
    settings.BORGUI_RESTORE_ROOTS = [tmp_path / "restore-root"]
    return tmp_path / "restore-root"


@pytest.mark.browser
def test_browse_download_and_restore_in_the_browser(
    qcluster, live_server, page, admin, admin_login, tmp_path, restore_root
):
    """A person opens the repository's archives, browses into a directory, downloads a
    file, and restores a folder; the worker builds the index and runs the restore."""
    repository = make_repository(tmp_path / "repo")
    source = make_awkward_tree(tmp_path / "src")
    create_archive(repository, source, "a1")  # made outside borgui: the list is read on first sight
    roots = restore_root
    qcluster(BORGUI_RESTORE_ROOTS=str(roots))
    admin_login(admin)
    page.goto(live_server.url + reverse("admin:repositories_repository_change", args=[repository.pk]))
    page.click("#repository-archives")
    expect(page.locator("#result_list")).to_contain_text("a1", timeout=60_000)  # the page follows the refresh
    page.click("text=Browse")
    expect(page.locator("#archive-entries")).to_be_visible(timeout=60_000)  # follows the index build
    page.click("a.dir:has-text('docs/')")
    expect(page.locator(".breadcrumbs")).to_contain_text("docs")
    with page.expect_download() as download_info:
        page.click("tr[data-path='docs/report 2024.txt'] a.download")
    download = download_info.value
    assert download.suggested_filename == "report 2024.txt"
    assert filecmp.cmp(download.path(), source / "docs" / "report 2024.txt", shallow=False)

    page.check("tr[data-path='docs/sub dir'] input[type=checkbox]")
    page.click("#restore-selected")
    target = roots / "from-the-admin"
    page.fill("#id_target", str(target))
    page.click("#start-restore")
    expect(page.locator(".field-status")).to_contain_text("Success", timeout=60_000)
    job = RestoreJob.objects.get()
    assert job.paths == ["docs/sub dir"] and job.requested_by == admin and job.worker
    restored = target / "docs" / "sub dir" / "-leading-dash"
    assert restored.read_bytes() == (source / "docs" / "sub dir" / "-leading-dash").read_bytes()
    assert Archive.objects.get().stats_source == "info"


def test_delete_and_diff_from_the_admin_run_on_the_worker(qcluster, client, admin, archive):
    found, source = archive
    (source / "added.txt").write_text("new")
    create_archive(found.repository, source, "a2")
    catalog.refresh(found.repository)
    second = Archive.objects.get(name="a2")
    qcluster()
    client.force_login(admin)
    changelist = reverse("admin:archives_archive_changelist")
    both = {"action": "diff_archives", "_selected_action": [found.pk, second.pk], "index": 0}
    response = client.post(changelist, both, follow=True)
    deadline = time.monotonic() + 60
    while b"diff-changes" not in response.content:
        assert time.monotonic() < deadline, response.content.decode()[-2000:]
        time.sleep(0.5)
        response = client.get(response.request["PATH_INFO"] + "?" + response.request["QUERY_STRING"])
    assert [c["path"] for c in response.context["changes"] if c["change"] == "added"] == ["added.txt"]

    ask = client.post(changelist, {"action": "delete_archives", "_selected_action": [found.pk], "index": 0})
    assert b"main :: a1" in ask.content and Archive.objects.filter(pk=found.pk).exists()  # asks first
    done = client.post(
        changelist, {"action": "delete_archives", "_selected_action": [found.pk], "confirmed": "yes"}, follow=True
    )
    deadline = time.monotonic() + 60
    while b"task-message" not in done.content:
        assert time.monotonic() < deadline
        time.sleep(0.5)
        done = client.get(done.request["PATH_INFO"] + "?" + done.request["QUERY_STRING"])
    assert b"deleted: a1" in done.content
    assert list(Archive.objects.values_list("name", flat=True)) == ["a2"]


def test_a_refused_restore_from_the_admin_says_why_and_records_nothing(client, admin, archive, restore_root):
    found, _ = archive
    index.ensure(found)
    occupied = restore_root / "occupied"
    occupied.mkdir(parents=True)
    (occupied / "mine").write_text("keep")
    client.force_login(admin)
    url = reverse("admin:archives_archive_restore", args=[found.pk])
    response = client.post(url, {"paths": ["docs"], "target": str(occupied), "strip_components": "0"})
    assert response.status_code == 200
    assert "is not empty: choose an empty or new directory, or overwrite" in response.content.decode()
    assert not RestoreJob.objects.exists() and [p.name for p in occupied.iterdir()] == ["mine"]
    assert str(restore_root) in client.get(url + "?path=docs").content.decode()  # the default target


def test_restore_job_list_query_count_does_not_grow(client, admin, archive, tmp_path):
    found, _ = archive
    index.ensure(found)
    client.force_login(admin)
    url = reverse("admin:archives_restorejob_changelist")

    restore.request(found, ["docs"], admin, target=str(tmp_path / "t0"), admin_group=True)
    one = count_changelist_queries(client, url, 1)
    for n in range(1, 4):
        restore.request(found, ["docs"], admin, target=str(tmp_path / f"t{n}"), admin_group=True)
    assert count_changelist_queries(client, url, 4) == one


def test_the_admins_own_delete_page_cannot_drop_an_archive_row(client, admin, archive):
    found, _ = archive
    client.force_login(admin)
    response = client.post(reverse("admin:archives_archive_delete", args=[found.pk]), {"post": "yes"})
    assert response.status_code == 403 and Archive.objects.filter(pk=found.pk).exists()
    changelist = client.get(reverse("admin:archives_archive_changelist"))
    assert "delete_archives" in changelist.context["action_form"].fields["action"].choices.__repr__()


@pytest.mark.browser
@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_a_viewer_browses_but_sees_no_download_or_restore(role, role_user, admin_login, page, live_server, archive):
    found, _ = archive
    index.build(found, holder="test")
    admin_login(role_user(role))
    may = role == "operator"  # download_archive and restore_archive (docs/security.md)
    page.goto(live_server.url + _browse_url(found))
    expect(page.locator("#archive-entries")).to_contain_text("docs")
    assert (page.locator("a.download").count() > 0) == may
    assert page.locator("#restore-selected").count() == int(may)
    assert (page.locator("#archive-entries input[type=checkbox]").count() > 0) == may
