"""The cached archive list (docs/archives.md, "Archive list") with real borg."""

import json

import pytest

from archives.models import Archive, StatsSource
from archives.services import catalog
from tests.archivekit import create_archive, make_awkward_tree
from tests.factories import make_plan, make_repository, make_source_tree

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_backup_records_its_archive_from_its_own_create_output(manage, tmp_path):
    repository = make_repository(tmp_path / "repo")
    plan = make_plan("nightly", [repository], [make_source_tree(tmp_path / "src")])
    assert manage("run_backup", "nightly").returncode == 0
    archive = Archive.objects.get()
    assert archive.plan == plan and archive.stats_source == StatsSource.CREATE
    assert archive.nfiles == 5 and archive.original_size >= 5000 and len(archive.borg_id) == 64
    assert archive.start is not None and archive.end >= archive.start and not archive.checkpoint


def test_list_archives_json_of_an_imported_repository(manage, tmp_path):
    repository = make_repository(tmp_path / "repo", encryption="repokey-blake2")
    make_plan("web", [repository], [tmp_path], archive_name="{plan}-{now}")
    make_plan("webdb", [repository], [tmp_path], archive_name="{plan}-{now}")
    source = make_awkward_tree(tmp_path / "src")
    created = create_archive(repository, source, "webdb-2024-01-01").json()["archive"]
    create_archive(repository, source, "other-1")
    create_archive(repository, source, "x.checkpoint")
    result = manage("list_archives", "--json", "--", "main")
    assert result.returncode == 0, result.stderr
    listed = json.loads(result.stdout)
    assert [a["name"] for a in listed] == ["webdb-2024-01-01", "other-1", "x.checkpoint"]
    first = listed[0]
    assert set(first) == {
        "name", "id", "start", "end", "plan", "checkpoint", "nfiles", "original_size", "compressed_size",
        "deduplicated_size", "stats_source",
    }  # fmt: skip
    assert first["plan"] == "webdb"  # the longest fixed prefix wins over "web-"
    assert listed[1]["plan"] is None
    assert first["stats_source"] == "info" and first["nfiles"] == created["stats"]["nfiles"]
    assert first["start"].endswith("+00:00")
    assert [a["checkpoint"] for a in listed] == [False, False, True]
    # latest: the newest non-checkpoint archive
    assert catalog.resolve(repository, "latest").name == "other-1"


def test_refresh_drops_archives_deleted_elsewhere(manage, tmp_path):
    from repositories import borg

    repository = make_repository(tmp_path / "repo")
    source = make_source_tree(tmp_path / "src")
    create_archive(repository, source, "a1")
    create_archive(repository, source, "a2")
    assert catalog.refresh(repository) == 2
    assert borg.run(repository, ["delete", "--", f"{repository.location}::a1"]).ok
    assert json.loads(manage("list_archives", "main", "--json").stdout)[0]["name"] == "a1"  # the cache
    result = manage("list_archives", "main", "--refresh", "--json")
    assert [a["name"] for a in json.loads(result.stdout)] == ["a2"]


def test_unknown_repository_is_exit_2_with_one_line(manage):
    result = manage("list_archives", "nosuch")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["CommandError: no repository named 'nosuch'"]


def test_after_a_prune_the_list_is_read_again_once_the_run_gave_its_leases_back(manage, tmp_path):
    repository = make_repository(tmp_path / "repo")
    source = make_source_tree(tmp_path / "src")
    make_plan("nightly", [repository], [source], keep_daily=1)
    create_archive(repository, source, "nightly-2020-01-01T00:00:00")  # older, same prefix: pruned
    catalog.refresh(repository)
    assert manage("run_backup", "nightly").returncode == 0
    (archive,) = Archive.objects.all()
    assert archive.name != "nightly-2020-01-01T00:00:00" and archive.stats_source == StatsSource.CREATE
    from repositories.models import PlanRun

    log = PlanRun.objects.get().log
    assert log.index("main: archive list refreshed (1 archives)") > log.index("finished: success")
