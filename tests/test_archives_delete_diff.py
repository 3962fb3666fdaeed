"""Delete and diff of archives (docs/archives.md), real borg."""

import json
import os

import pytest

from archives.models import Archive
from archives.services import catalog, differ
from tests.archivekit import create_archive
from tests.factories import make_repository

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def two(tmp_path):
    repository = make_repository(tmp_path / "repo")
    source = tmp_path / "src"
    (source / "dir").mkdir(parents=True)
    (source / "same.txt").write_text("same")
    (source / "gone.txt").write_text("12345")
    (source / "grows.txt").write_text("a")
    (source / "mode.txt").write_text("m")
    (source / "gone-dir").mkdir()
    create_archive(repository, source, "old")
    (source / "gone.txt").unlink()
    (source / "gone-dir").rmdir()
    (source / "grows.txt").write_text("a" * 1000)
    (source / "mode.txt").chmod(0o600)
    (source / "dir" / "new.bin").write_bytes(os.urandom(300))
    os.symlink("same.txt", source / "new-link")
    create_archive(repository, source, "new")
    catalog.refresh(repository)
    return repository


def test_diff_json_maps_borgs_changes(manage, two):
    result = manage("diff_archives", "--json", "--", "main", "old", "latest")
    assert result.returncode == 0, result.stderr
    changes = {c["path"]: (c["change"], c["size_delta"]) for c in json.loads(result.stdout)}
    assert changes["gone.txt"] == ("removed", -5)
    assert changes["gone-dir"][0] == "removed"
    assert changes["dir/new.bin"] == ("added", 300)
    assert changes["new-link"][0] == "added"
    assert changes["mode.txt"] == ("metadata", 0)
    assert changes["grows.txt"][0] == "modified" and changes["grows.txt"][1] > 0
    assert "same.txt" not in changes
    assert "dir" not in changes and "." not in changes  # directories with only time changes


def test_diff_below_a_path(manage, two):
    result = manage("diff_archives", "--json", "main", "old", "new", "/dir")
    assert [c["path"] for c in json.loads(result.stdout)] == ["dir/new.bin"]


def test_classify_a_changed_link_target():
    item = {"path": "l", "changes": [{"type": "changed link"}, {"type": "mtime"}]}
    assert differ.classify(item) == {"path": "l", "change": "modified", "size_delta": 0}
    assert differ.classify({"path": "d", "changes": [{"type": "mtime"}, {"type": "ctime"}]}) is None


def test_delete_then_list(manage, two):
    dry = manage("delete_archive", "--dry-run", "main", "old")
    assert dry.returncode == 0 and dry.stdout.strip() == "would delete: old"
    assert Archive.objects.filter(name="old").exists()
    result = manage("delete_archive", "main", "old")
    assert result.returncode == 0 and result.stdout.strip() == "deleted: old", result.stderr
    listed = json.loads(manage("list_archives", "--json", "--refresh", "main").stdout)
    assert [a["name"] for a in listed] == ["new"]


def test_an_unknown_name_deletes_nothing(manage, two):
    result = manage("delete_archive", "main", "new", "nosuch")
    assert result.returncode == 2 and "no archive 'nosuch': nothing deleted" in result.stderr
    listed = json.loads(manage("list_archives", "--json", "--refresh", "main").stdout)
    assert [a["name"] for a in listed] == ["old", "new"]


def test_no_name_is_a_usage_error(manage, two):
    result = manage("delete_archive", "main")
    assert result.returncode == 2 and "Traceback" not in result.stderr
