"""verify_plan, the spot check (docs/maintenance.md), with real borg against live sources."""

import os

import pytest

from maintenance.services.verify import count_problem, mtimes_match, sample_size
from notifications.models import Event
from repositories.services import runs
from tests.factories import make_plan, make_repository, make_source_tree
from tests.maintenancekit import job_of
from tests.notifykit import json_channel

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def backed_up(tmp_path):
    repository = make_repository(tmp_path / "repo")
    source = make_source_tree(tmp_path / "src", files=30, size=20_000)
    (source / "cache").mkdir()
    (source / "cache" / "skip.tmp").write_bytes(b"excluded")
    os.link(source / "file-0000.bin", source / "hard-link.bin")
    plan = make_plan("nightly", [repository], [source], excludes=[f"{source}/cache"])
    run = runs.run_in_foreground(plan)
    assert run.status == "success", run.log
    return plan, source


def _verify(manage, *extra):
    return manage("verify_plan", "nightly", *extra)


def test_an_unchanged_source_passes(manage, backed_up):
    result = _verify(manage, "--sample-percent", "100")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == "status: success"
    job = job_of("verify")
    [repository] = job.results["repositories"]
    # 30 files and the hard link; the excluded directory is on neither side
    assert (repository["archive_files"], repository["source_files"], repository["compared"]) == (31, 31, 31)
    assert repository["mismatches"] == [] and job.reason == "31 file(s) compared, all equal"


def test_the_default_sample_is_at_least_twenty_files(manage, backed_up):
    result = _verify(manage)
    assert result.returncode == 0, result.stdout
    assert job_of("verify").results["repositories"][0]["compared"] == 20


def test_content_changed_behind_the_same_size_and_mtime_is_named(manage, backed_up, receiver):
    json_channel(receiver, events=["verify"])
    _plan, source = backed_up
    victim = source / "file-0007.bin"
    before = victim.stat()
    victim.write_bytes(os.urandom(before.st_size))
    os.utime(victim, ns=(before.st_atime_ns, before.st_mtime_ns))
    result = _verify(manage, "--sample-percent", "100")
    assert result.returncode == 2, result.stdout
    assert "mismatch: " + f"{str(victim).lstrip('/')} (content differs (same size and mtime))" in result.stdout
    assert result.stdout.splitlines()[-1] == "status: failure"
    event = Event.objects.get(kind="verify")
    assert event.plan.name == "nightly" and "1 file(s) differ" in event.details["summary"]
    assert any("file-0007.bin" in line for line in event.details["output"])


def test_half_the_files_gone_fails_then_passes_once_restored(manage, backed_up, tmp_path):
    _plan, source = backed_up
    keep = tmp_path / "kept"
    keep.mkdir()
    moved = sorted(source.glob("file-*.bin"))[::2]  # 15 of the 30
    for path in moved:
        os.rename(path, keep / path.name)
    result = _verify(manage)
    assert result.returncode == 2, result.stdout
    assert "more than 10 % apart" in result.stdout and "the source 16" in result.stdout
    for path in moved:
        os.rename(keep / path.name, path)  # rename keeps the mtime: the source is as backed up
    result = _verify(manage, "--sample-percent", "100")
    assert result.returncode == 0, result.stdout
    assert result.stdout.splitlines()[-1] == "status: success"


def test_nothing_to_compare_is_a_warning(manage, backed_up):
    _plan, source = backed_up
    for path in source.glob("*.bin"):
        os.utime(path)  # every mtime moved on: no file is comparable
    result = _verify(manage)
    assert result.returncode == 0, result.stdout
    assert result.stdout.splitlines()[-1] == "status: warning"
    assert job_of("verify").reason == "nothing to compare"


def test_a_plan_without_an_archive_fails(manage, tmp_path):
    make_plan("nightly", [make_repository(tmp_path / "repo")], [make_source_tree(tmp_path / "src")])
    result = _verify(manage)
    assert result.returncode == 2
    assert "no archive of plan nightly in main" in result.stdout


def test_usage_errors(manage, db):
    assert manage("verify_plan", "nope").stderr.strip() == "CommandError: no backup plan named 'nope'"
    result = manage("verify_plan", "nope", "--sample-percent", "150")
    assert result.returncode == 2 and "between 0 and 100" in result.stderr


def test_the_rules():
    assert mtimes_match(1_000_000, 1_000_001) and mtimes_match(5, 4) and not mtimes_match(10, 12)
    assert sample_size(1000, 5) == 50 and sample_size(100, 5) == 20 and sample_size(7, 5) == 7
    assert count_problem(90, 100, 10) == "" and "more than 10 % apart" in count_problem(89, 100, 10)
