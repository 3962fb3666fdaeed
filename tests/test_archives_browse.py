"""The index behind browse and search (docs/archives.md, "Browse", "The index"), real borg."""

import json

import pytest

from archives.models import ArchiveEntry, ArchiveIndex
from archives.services import catalog, index
from tests.archivekit import create_archive, make_awkward_tree, source_paths
from tests.factories import make_repository, make_source_tree

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def awkward(tmp_path):
    repository = make_repository(tmp_path / "repo")
    source = make_awkward_tree(tmp_path / "src")
    create_archive(repository, source, "a1")
    catalog.refresh(repository)
    return repository, source


def _browse(manage, *args, options=()):
    result = manage("browse_archive", "--json", *options, "--", "main", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _walk(manage, path=""):
    found = {}
    for entry in _browse(manage, "a1", path):
        found[entry["path"]] = entry
        if entry["type"] == "d":
            found.update(_walk(manage, entry["path"]))
    return found


def test_browsing_every_directory_gives_the_source_tree(manage, awkward):
    repository, source = awkward
    browsed = _walk(manage)
    assert {path: entry["type"] for path, entry in browsed.items()} == source_paths(source)
    report = browsed["docs/report 2024.txt"]
    assert report["size"] == (source / "docs" / "report 2024.txt").stat().st_size
    assert report["mtime"].endswith("+00:00") and "." in report["mtime"]
    assert browsed["hardlink-to-report"]["type"] == "-" and browsed["hardlink-to-report"]["size"] == report["size"]
    assert browsed["docs/private.key"]["mode"] == "-rw-------" and browsed["run.sh"]["mode"] == "-rwxr-xr-x"
    assert browsed["link-to-report"]["linktarget"] == "docs/report 2024.txt"
    assert browsed["docs/page.html"]["linktarget"] is None
    assert browsed["caf?.txt"]["name_lossy"] is True and "name_lossy" not in report


def test_directories_first_then_names_and_paths_with_or_without_slash(manage, awkward):
    root = [entry["name"] for entry in _browse(manage, "a1")]
    assert root[:3] == ["docs", "empty", "ünïcødé"]
    assert root[3:] == sorted(root[3:])
    assert _browse(manage, "a1", "/docs/") == _browse(manage, "a1", "docs")
    assert [e["name"] for e in _browse(manage, "latest", "docs/sub dir")] == ["-leading-dash"]


def test_search_is_case_insensitive_substring(manage, awkward):
    found = [entry["path"] for entry in _browse(manage, "a1", options=["--search", "REPORT"])]
    assert found == ["docs/report 2024.txt", "hardlink-to-report", "link-to-report"]


def test_unknown_archive_or_path_is_exit_2(manage, awkward):
    assert manage("browse_archive", "main", "nosuch").returncode == 2
    result = manage("browse_archive", "main", "a1", "no/such/dir")
    assert result.returncode == 2 and "does not exist" in result.stderr and "Traceback" not in result.stderr


def test_parents_that_are_not_items_are_synthetic_directories(tmp_path):
    repository = make_repository(tmp_path / "repo")
    make_source_tree(tmp_path / "src" / "srv" / "data", files=2)
    from repositories import borg

    assert borg.run(repository, ["create", "--", f"{repository.location}::a", "srv/data"], cwd=str(tmp_path / "src")).ok
    catalog.refresh(repository)
    built = index.ensure(catalog.resolve(repository, "a", fresh=False))
    (srv,) = index.children(built, "")
    assert srv.path == "srv" and srv.type == "d" and srv.synthetic and srv.mtime is None
    assert index.entry_json(srv)["mode"] is None
    assert [e.name for e in index.children(built, "srv/data")] == ["file-0000.bin", "file-0001.bin"]


def test_index_is_reused_dropped_with_its_archive_and_capped(tmp_path, settings):
    repository = make_repository(tmp_path / "repo")
    source = make_source_tree(tmp_path / "src", files=50, size=10)
    for name in ("a1", "a2", "a3"):
        create_archive(repository, source, name)
    catalog.refresh(repository)
    first = index.ensure(catalog.resolve(repository, "a1", fresh=False))
    assert index.ensure(first.archive).built == first.built  # reused, not rebuilt
    settings.BORGUI_INDEX_CACHE_MB = first.disk_bytes * 2.5 / 1024 / 1024
    second = index.ensure(catalog.resolve(repository, "a2", fresh=False))
    index.ensure(catalog.resolve(repository, "a3", fresh=False))
    assert set(ArchiveIndex.objects.values_list("archive__name", flat=True)) == {"a2", "a3"}  # a1 least recent
    from repositories import borg

    assert borg.run(repository, ["delete", "--", f"{repository.location}::a2"]).ok
    catalog.refresh(repository)
    assert not ArchiveEntry.objects.filter(index_id=second.pk).exists()
    assert set(ArchiveIndex.objects.values_list("archive__name", flat=True)) == {"a3"}
