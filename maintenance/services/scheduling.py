"""Maintenance schedules (docs/maintenance.md): like plan schedules, a one-shot django-q2
schedule per (kind, repository or plan), armed with the next slot computed in its own
time zone and re-armed when it fires."""

from datetime import datetime

from django.db import IntegrityError
from django.utils import timezone

from maintenance.models import (
    MaintenanceJob,
    MaintenanceKind,
    MaintenanceTrigger,
    PlanMaintenance,
    RepositoryMaintenance,
)
from repositories.models import BackupPlan, Repository
from repositories.services.scheduling import arm_once, is_armed
from repositories.status import Status

TASK = "maintenance.tasks.run_scheduled"


def schedule_name(kind: MaintenanceKind, pk: int) -> str:
    return f"{kind.value}:{pk}"


def _cron(settings, kind: MaintenanceKind) -> tuple[str, str]:
    if settings is None:
        return "", ""
    return getattr(settings, f"{kind.value}_schedule"), getattr(settings, f"{kind.value}_timezone")


def sync_repository(repository_id: int, after: datetime | None = None) -> None:
    settings = RepositoryMaintenance.objects.filter(repository_id=repository_id).first()
    for kind in (MaintenanceKind.CHECK, MaintenanceKind.COMPACT):
        cron, zone = _cron(settings, kind)
        arm_once(schedule_name(kind, repository_id), TASK, (kind.value, repository_id), cron, zone, after)


def sync_plan(plan_id: int, after: datetime | None = None) -> None:
    settings = PlanMaintenance.objects.filter(plan_id=plan_id).select_related("plan").first()
    enabled = settings is not None and settings.plan.enabled
    for kind in (MaintenanceKind.VERIFY, MaintenanceKind.DRILL):
        cron, zone = _cron(settings if enabled else None, kind)
        arm_once(schedule_name(kind, plan_id), TASK, (kind.value, plan_id), cron, zone, after)


def rearm_missing() -> int:
    count = 0
    for settings in RepositoryMaintenance.objects.exclude(check_schedule="", compact_schedule=""):
        kinds = [k for k in (MaintenanceKind.CHECK, MaintenanceKind.COMPACT) if _cron(settings, k)[0]]
        if any(not is_armed(schedule_name(k, settings.repository_id)) for k in kinds):
            sync_repository(settings.repository_id)
            count += 1
    for settings in PlanMaintenance.objects.filter(plan__enabled=True).exclude(verify_schedule="", drill_schedule=""):
        kinds = [k for k in (MaintenanceKind.VERIFY, MaintenanceKind.DRILL) if _cron(settings, k)[0]]
        if any(not is_armed(schedule_name(k, settings.plan_id)) for k in kinds):
            sync_plan(settings.plan_id)
            count += 1
    return count


def run_scheduled(kind: str, owner_id: int, slot: str | None = None) -> str:
    from maintenance.services import jobs

    kind = MaintenanceKind(kind)
    # Re-arm first: the next slot must not depend on this job finishing.
    if kind.per_plan:
        plan = BackupPlan.objects.filter(pk=owner_id).first()
        if plan is None:
            return "plan deleted"
        sync_plan(owner_id)
        owner = {"plan": plan, "repository": None}
        settings = PlanMaintenance.objects.filter(plan=plan).first()
        if not plan.enabled or settings is None or not _cron(settings, kind)[0]:
            return "not scheduled"
        options = verify_options(settings) if kind == MaintenanceKind.VERIFY else {}
    else:
        repository = Repository.objects.filter(pk=owner_id).first()
        if repository is None:
            return "repository deleted"
        sync_repository(owner_id)
        owner = {"plan": None, "repository": repository}
        settings = RepositoryMaintenance.objects.filter(repository=repository).first()
        if settings is None or not _cron(settings, kind)[0]:
            return "not scheduled"
        options = settings.check_options() if kind == MaintenanceKind.CHECK else {}
    scheduled_for = datetime.fromisoformat(slot) if slot else timezone.now()
    try:
        job = jobs.create_job(kind, **owner, trigger=MaintenanceTrigger.SCHEDULE, options=options,
                              scheduled_for=scheduled_for)  # fmt: skip
    except jobs.AlreadyRunning as e:
        _record_skipped_slot(kind, owner, scheduled_for, str(e))
        return str(e)
    except IntegrityError:
        return "slot already run"
    return jobs.execute(job).value


def verify_options(settings: PlanMaintenance | None) -> dict:
    if settings is None:
        return {}
    return {"sample_percent": settings.sample_percent, "count_tolerance_percent": settings.count_tolerance_percent}


def _record_skipped_slot(kind, owner, scheduled_for, reason: str) -> None:
    from maintenance.services.jobs import target_of

    try:
        MaintenanceJob.objects.create(
            kind=kind, target=target_of(kind, owner["repository"], owner["plan"]), **owner,
            trigger=MaintenanceTrigger.SCHEDULE, scheduled_for=scheduled_for, status=Status.SKIPPED,
            reason=f"slot skipped: {reason}"[:500], finished=timezone.now(),
        )  # fmt: skip
    except IntegrityError:
        pass
