"""check_repository and compact_repository with real borg (docs/maintenance.md)."""

import pytest

from archives.services import catalog
from maintenance.models import MaintenanceJob
from notifications.models import Event
from tests.archivekit import create_archive
from tests.factories import make_repository, make_source_tree
from tests.maintenancekit import corrupt_largest_segment, job_of
from tests.notifykit import json_channel

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def filled(tmp_path):
    repository = make_repository(tmp_path / "repo")
    source = make_source_tree(tmp_path / "src", files=6, size=200_000)
    create_archive(repository, source, "first")
    return repository


def test_a_healthy_repository_checks_clean(manage, filled):
    result = manage("check_repository", "main")
    assert result.returncode == 0, result.stderr + result.stdout
    assert result.stdout.strip().splitlines()[-1] == "status: success"
    job = job_of("check", repository=filled)
    assert job.status == "success" and job.trigger == "cli" and job.finished and job.results["mode"] == "full"


def test_a_corrupted_segment_is_damage_exit_2_recorded_and_notified(manage, filled, receiver, tmp_path):
    json_channel(receiver, events=["check"])
    corrupt_largest_segment(tmp_path / "repo")
    result = manage("check_repository", "--verify-data", "main")
    assert result.returncode == 2, result.stdout
    assert "status: failure" in result.stdout, result.stderr
    assert "Traceback" not in result.stdout, result.stdout
    job = job_of("check", repository=filled)
    assert job.status == "failure" and job.reason.startswith("errors found")
    assert job.options["verify_data"] is True and job.results["mode"] == "verify-data"
    assert "errors found" in job.log
    assert result.stderr == ""
    event = Event.objects.get(kind="check", repository=filled)
    assert event.details["subject"] == "main" and event.details["status"] == "failure"


def test_verify_data_with_max_duration_is_a_usage_error(manage, filled):
    result = manage("check_repository", "--verify-data", "--max-duration", "10", "main")
    assert result.returncode == 2
    assert result.stderr.strip() == "CommandError: --verify-data and --max-duration cannot be combined"
    assert not MaintenanceJob.objects.exists()


def test_partial_check_runs_repository_only_with_max_duration(manage, filled):
    result = manage("check_repository", "--max-duration", "30", "main")
    assert result.returncode == 0, result.stdout
    assert job_of("check").results["mode"] == "repository-only, max 30 s"


def test_unknown_repository(manage, db):
    result = manage("check_repository", "nope")
    assert result.returncode == 2 and result.stderr.strip() == "CommandError: no repository named 'nope'"
    assert manage("compact_repository", "nope").returncode == 2


def test_delete_then_compact_frees_the_deleted_archives_space(manage, filled, tmp_path):
    big = make_source_tree(tmp_path / "big", files=4, size=1_000_000)
    create_archive(filled, big, "big")
    assert manage("delete_archive", "main", "big").returncode == 0
    result = manage("compact_repository", "main")
    assert result.returncode == 0, result.stdout + result.stderr
    job = job_of("compact", repository=filled)
    assert job.status == "success"
    assert job.size_before - job.size_after >= 3_500_000  # the 4 MB of incompressible data
    assert f"{job.freed} freed" in result.stdout
    catalog.refresh(filled)
    assert [a.name for a in catalog.archives_of(filled)] == ["first"]
    assert manage("check_repository", "main").returncode == 0
