"""Maintenance schedules (docs/maintenance.md): computed in their own time zone, fired
through a real qcluster, re-armed; compact after a prune that removed an archive."""

import time
from datetime import UTC, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from django_q.models import Schedule

from maintenance.models import MaintenanceJob, PlanMaintenance, RepositoryMaintenance
from maintenance.services import scheduling
from maintenance.steps import compacts_after_prune
from repositories.services import runs
from tests.factories import make_plan, make_repository, make_source_tree

pytestmark = pytest.mark.django_db(transaction=True)


def test_check_schedule_is_armed_in_its_own_time_zone(tmp_path):
    repository = make_repository(tmp_path / "repo", init=False)
    RepositoryMaintenance.objects.create(
        repository=repository, check_schedule="30 2 * * 0", check_timezone="Asia/Tokyo", compact_schedule="0 4 * * *"
    )
    check = Schedule.objects.get(name=f"check:{repository.pk}")
    compact = Schedule.objects.get(name=f"compact:{repository.pk}")
    assert check.func == compact.func == "maintenance.tasks.run_scheduled"
    assert check.schedule_type == Schedule.ONCE and check.repeats == 1
    tokyo = check.next_run.astimezone(UTC)
    assert tokyo.strftime("%H:%M") == "17:30" and tokyo.weekday() == 5  # Sunday 02:30 in Tokyo
    assert compact.next_run.astimezone(UTC).strftime("%H:%M") == "04:00"
    RepositoryMaintenance.objects.filter(repository=repository).delete()
    assert not Schedule.objects.filter(name__in=[f"check:{repository.pk}", f"compact:{repository.pk}"]).exists()


def test_verify_data_and_max_duration_together_are_refused(tmp_path):
    settings = RepositoryMaintenance(
        repository=make_repository(tmp_path / "repo", init=False), check_verify_data=True, check_max_duration=60
    )
    with pytest.raises(ValidationError, match="not with verify_data"):
        settings.full_clean()


def test_a_disabled_plan_has_no_verify_schedule(tmp_path):
    plan = make_plan("p", [make_repository(tmp_path / "repo", init=False)], [tmp_path])
    PlanMaintenance.objects.create(plan=plan, verify_schedule="0 5 * * *")
    assert Schedule.objects.filter(name=f"verify:{plan.pk}").exists()
    plan.enabled = False
    plan.save()
    assert not Schedule.objects.filter(name=f"verify:{plan.pk}").exists()


def test_a_scheduled_check_fires_through_a_real_qcluster_and_rearms(qcluster, tmp_path):
    repository = make_repository(tmp_path / "repo")
    RepositoryMaintenance.objects.create(repository=repository, check_schedule="0 3 * * *", check_timezone="UTC")
    name = scheduling.schedule_name(scheduling.MaintenanceKind.CHECK, repository.pk)
    Schedule.objects.filter(name=name).update(next_run=timezone.now() - timedelta(hours=5))  # a missed slot
    cluster = qcluster()
    deadline = time.monotonic() + 90  # django-q2's scheduler looks every 30 s
    while time.monotonic() < deadline and not MaintenanceJob.objects.filter(status="success").exists():
        time.sleep(0.5)
    jobs = list(MaintenanceJob.objects.all())
    assert [(j.kind, j.trigger, j.status) for j in jobs] == [("check", "schedule", "success")], cluster.log()[-3000:]
    assert jobs[0].scheduled_for is not None
    schedule = Schedule.objects.get(name=name)
    assert schedule.repeats == 1 and schedule.next_run > timezone.now()
    assert schedule.next_run.astimezone(UTC).strftime("%H:%M") == "03:00"


def test_compact_after_a_prune_that_removed_an_archive(tmp_path):
    repository = make_repository(tmp_path / "repo")
    source = make_source_tree(tmp_path / "src", files=3, size=500_000)
    plan = make_plan("daily", [repository], [source], keep_daily=1)
    first = runs.run_in_foreground(plan)
    assert first.status == "success"
    assert not MaintenanceJob.objects.exists()  # nothing pruned yet
    for item in source.iterdir():
        item.write_bytes(item.read_bytes()[::-1])  # new content: the pruned archive's chunks become garbage
    second = runs.run_in_foreground(plan)
    assert second.status == "success", second.log
    job = MaintenanceJob.objects.get()
    assert (job.kind, job.trigger, job.status) == ("compact", "after-prune", "success")
    assert job.size_before - job.size_after >= 1_000_000
    assert f"compact after prune (job {job.pk}): success" in second.log
    assert job.started >= second.finished  # after the run, under its own lease


def test_compact_after_prune_can_be_turned_off(tmp_path):
    repository = make_repository(tmp_path / "repo", init=False)
    assert compacts_after_prune(repository)  # the default
    RepositoryMaintenance.objects.create(repository=repository, compact_after_prune=False)
    assert not compacts_after_prune(repository)
