"""Downloads (docs/archives.md, "Download"): the admin view and `download_archive`, real borg."""

import io
import os
import tarfile
import urllib.parse

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from repositories.models import PlanRun, RepositoryLease
from tests.archivekit import indexed_archive, make_awkward_tree
from tests.factories import make_plan, make_repository

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def archive(tmp_path):
    repository = make_repository(tmp_path / "repo")
    source = make_awkward_tree(tmp_path / "src")
    found = indexed_archive(repository, source, "a1")
    return found, source


def _url(archive, path=None):
    url = f"/admin/archives/archive/{archive.pk}/download/"
    return url + ("?" + urllib.parse.urlencode({"path": path}) if path is not None else "")


def _get(client, archive, path=None):
    response = client.get(_url(archive, path))
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return response, body


def test_a_file_is_its_bytes_as_an_attachment_never_rendered(client, admin, archive):
    found, source = archive
    client.force_login(admin)
    response, body = _get(client, found, "/docs/page.html")
    assert response.status_code == 200 and body == (source / "docs" / "page.html").read_bytes()
    assert response["Content-Type"] == "application/octet-stream"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Length"] == str(len(body))
    assert response["Content-Disposition"] == 'attachment; filename="page.html"'


def test_unicode_and_quotes_in_the_name_use_rfc6266_filename_star(client, admin, archive):
    found, source = archive
    client.force_login(admin)
    response, body = _get(client, found, "ünïcødé/naïve – “quoted”.txt")
    assert body == (source / "ünïcødé" / "naïve – “quoted”.txt").read_bytes()
    disposition = response["Content-Disposition"]
    assert disposition.startswith("attachment; filename*=utf-8''")
    assert urllib.parse.unquote(disposition.split("''", 1)[1]) == "naïve – “quoted”.txt"


def test_a_hard_link_downloads_its_masters_bytes(client, admin, archive):
    found, source = archive
    client.force_login(admin)
    for path in ("hardlink-to-report", "docs/report 2024.txt"):
        response, body = _get(client, found, path)
        assert body == (source / "docs" / "report 2024.txt").read_bytes(), path
        assert response["Content-Length"] == str(len(body))


def test_a_directory_is_a_tar_gz_equal_to_the_source(client, admin, archive, tmp_path):
    found, source = archive
    client.force_login(admin)
    response, body = _get(client, found, "docs")
    assert response["Content-Disposition"] == 'attachment; filename="docs.tar.gz"'
    out = tmp_path / "out"
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        tar.extractall(out, filter="tar")
    for name in ("report 2024.txt", "page.html", "sub dir/-leading-dash", "private.key"):
        assert (out / "docs" / name).read_bytes() == (source / "docs" / name).read_bytes(), name
    assert (out / "docs" / "private.key").stat().st_mode & 0o777 == 0o600


def test_the_whole_archive_as_tar_gz(client, admin, archive, tmp_path):
    found, source = archive
    client.force_login(admin)
    response, body = _get(client, found)
    assert response["Content-Disposition"] == 'attachment; filename="a1.tar.gz"'
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        names = set(tar.getnames())
    assert {"run.sh", "link-to-report", "empty", "docs/sub dir/-leading-dash"} <= names


def test_unknown_path_is_404_and_never_an_empty_tar(client, admin, archive):
    found, _ = archive
    client.force_login(admin)
    response, _ = _get(client, found, "no/such/thing")
    assert response.status_code == 404


def test_a_writer_holding_the_repository_is_409_with_what_holds_it(client, admin, archive, tmp_path):
    found, _ = archive
    plan = make_plan("nightly", [found.repository], [tmp_path])
    run = PlanRun.objects.create(plan=plan, trigger="admin", status="running", started=timezone.now())
    RepositoryLease.objects.update_or_create(repository=found.repository, defaults={"run": run})
    client.force_login(admin)
    response, body = _get(client, found, "run.sh")
    assert response.status_code == 409
    assert body.decode().startswith("repository busy: plan nightly running since ")


def test_view_only_staff_get_403_on_download_and_restore(client, staff, archive):
    found, _ = archive
    staff.user_permissions.add(Permission.objects.get(codename="view_archive"))
    client.force_login(staff)
    assert client.get(f"/admin/archives/archive/{found.pk}/browse/").status_code == 200
    assert client.get(_url(found, "run.sh")).status_code == 403
    assert client.get(f"/admin/archives/archive/{found.pk}/restore/").status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="download_archive"))
    assert client.get(_url(found, "run.sh")).status_code == 200


def test_download_archive_command_to_file_and_stdout(manage, archive, tmp_path):
    found, source = archive
    out = tmp_path / "file.bin"
    result = manage("download_archive", "--output", str(out), "--", "main", "latest", "/docs/sub dir/-leading-dash")
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == (source / "docs" / "sub dir" / "-leading-dash").read_bytes()
    result = manage("download_archive", "main", "a1", "docs/report 2024.txt")
    assert result.stdout == (source / "docs" / "report 2024.txt").read_text()
    missing = manage("download_archive", "main", "a1", "nope")
    assert missing.returncode == 2 and "does not exist" in missing.stderr and "Traceback" not in missing.stderr


def test_a_corrupted_chunk_mid_stream_fails_the_download(manage, client, admin, tmp_path):
    """borg writes part of the file, then exits 2: the receiver must not see a complete file."""
    repository = make_repository(tmp_path / "repo")
    source = tmp_path / "src"
    source.mkdir()
    (source / "big.bin").write_bytes(os.urandom(BIG))
    found = indexed_archive(repository, source, "a1")
    _corrupt_last_segment_bytes(tmp_path / "repo")
    out = tmp_path / "out.bin"
    result = manage("download_archive", "--output", str(out), "main", "a1", "big.bin")
    assert result.returncode == 2 and not out.exists(), result.stderr
    client.force_login(admin)
    response = client.get(_url(found, "big.bin"))
    with pytest.raises(Exception, match="borg failed mid-stream"):
        b"".join(response.streaming_content)


# borg cuts a file into chunks of at most 8 MiB, so a 12 MB file has two chunks or more, and
# the bytes near its end (in the segment, where its chunks follow each other) are never in
# its first chunk: borg has written that one when it meets the damage.
BIG = 12_000_000
DAMAGED_AT = BIG - 100_000


def _corrupt_last_segment_bytes(repo):
    """Zero 64 bytes of big.bin's last chunks in the biggest data segment."""
    segments = sorted((repo / "data").rglob("*"), key=lambda p: p.stat().st_size if p.is_file() else 0)
    segment = segments[-1]
    data = bytearray(segment.read_bytes())
    assert len(data) > BIG, "big.bin is in this segment"
    data[DAMAGED_AT : DAMAGED_AT + 64] = bytes(64)
    segment.write_bytes(bytes(data))
