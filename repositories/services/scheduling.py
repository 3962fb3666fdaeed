"""Plan schedules on django-q2 (docs/running-plans.md#schedules): cron evaluated in the plan's own time zone.

django-q2 evaluates cron in settings.TIME_ZONE, so each plan gets a one-shot schedule
armed with the next slot computed here with croniter in the plan's zone; the task re-arms
it when it fires. A slot missed while no worker ran fires once when one returns (a
one-shot schedule in the past fires once), never once per missed slot.
"""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from django.utils import timezone
from django_q.models import Schedule

from repositories.models import BackupPlan
from repositories.validators import cron_next_run

TASK = "repositories.tasks.run_scheduled_plan"


def schedule_name(plan: BackupPlan) -> str:
    return f"plan:{plan.pk}"


def next_slot(plan: BackupPlan, after: datetime) -> datetime | None:
    """None for a schedule with no next run (a row saved before such schedules were refused)."""
    zone = ZoneInfo(plan.timezone) if plan.timezone else UTC
    return cron_next_run(plan.schedule, after.astimezone(zone))


def sync_schedule(plan: BackupPlan, after: datetime | None = None) -> Schedule | None:
    """Create, re-arm or remove the plan's schedule to match the plan."""
    name = schedule_name(plan)
    next_run = next_slot(plan, after or timezone.now()) if plan.enabled and plan.schedule else None
    if next_run is None:
        Schedule.objects.filter(name=name).delete()
        return None
    schedule, _created = Schedule.objects.update_or_create(
        name=name,
        defaults={
            "func": TASK,
            "args": repr((plan.pk,)),
            # Backups may run for hours: no task timeout (the run has its own heartbeat).
            "kwargs": repr({"q_options": {"timeout": -1}}),
            "schedule_type": Schedule.ONCE,
            "repeats": 1,
            "next_run": next_run,
            "intended_date_kwarg": "slot",
        },
    )
    return schedule


def remove_schedule(plan: BackupPlan) -> None:
    Schedule.objects.filter(name=schedule_name(plan)).delete()


def rearm_missing() -> int:
    """Arm every enabled, scheduled plan whose one-shot schedule is gone or spent."""
    count = 0
    for plan in BackupPlan.objects.filter(enabled=True).exclude(schedule=""):
        schedule = Schedule.objects.filter(name=schedule_name(plan)).first()
        if schedule is None or schedule.repeats == 0:
            sync_schedule(plan)
            count += 1
    return count
