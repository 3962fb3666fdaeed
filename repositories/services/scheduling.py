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

from common.humanize import when
from repositories.models import BackupPlan
from repositories.validators import cron_next_run, cron_next_runs

TASK = "repositories.tasks.run_scheduled_plan"


def schedule_name(plan: BackupPlan) -> str:
    return f"plan:{plan.pk}"


def _zone(zone_name: str):
    """The IANA zone ZONE_NAME; "" is UTC."""
    return ZoneInfo(zone_name) if zone_name else UTC


def next_run_in_zone(cron: str, zone_name: str, after: datetime) -> datetime | None:
    """The next slot of CRON in the IANA zone ZONE_NAME ("" is UTC); None when it never runs."""
    return cron_next_run(cron, after.astimezone(_zone(zone_name)))


def upcoming_runs(cron: str, zone_name: str, count: int = 3) -> str:
    """The next COUNT runs of a schedule in its zone, with seconds and the zone's label, for
    the help under a schedule field; "" when it has none."""
    zone = _zone(zone_name)
    slots = cron_next_runs(cron, timezone.now().astimezone(zone), count) if cron else []
    return ", ".join(when(slot, zone) for slot in slots)


def next_slot(plan: BackupPlan, after: datetime) -> datetime | None:
    """None for a schedule with no next run (a row saved before such schedules were refused)."""
    return next_run_in_zone(plan.schedule, plan.timezone, after)


def arm_once(name: str, task: str, args: tuple, cron: str, zone_name: str, after: datetime | None = None):
    """Create or re-arm the one-shot schedule NAME for the next slot of CRON in its zone;
    remove it when CRON is empty or never runs. The task gets the slot as ``slot``."""
    next_run = next_run_in_zone(cron, zone_name, after or timezone.now()) if cron else None
    if next_run is None:
        Schedule.objects.filter(name=name).delete()
        return None
    schedule, _created = Schedule.objects.update_or_create(
        name=name,
        defaults={
            "func": task,
            "args": repr(args),
            # Backups and checks may run for hours: no task timeout (they keep their own heartbeat).
            "kwargs": repr({"q_options": {"timeout": -1}}),
            "schedule_type": Schedule.ONCE,
            "repeats": 1,
            "next_run": next_run,
            "intended_date_kwarg": "slot",
        },
    )
    return schedule


def is_armed(name: str) -> bool:
    schedule = Schedule.objects.filter(name=name).first()
    return schedule is not None and schedule.repeats != 0


def sync_schedule(plan: BackupPlan, after: datetime | None = None) -> Schedule | None:
    """Create, re-arm or remove the plan's schedule to match the plan."""
    cron = plan.schedule if plan.enabled else ""
    return arm_once(schedule_name(plan), TASK, (plan.pk,), cron, plan.timezone, after)


def remove_schedule(plan: BackupPlan) -> None:
    Schedule.objects.filter(name=schedule_name(plan)).delete()


def rearm_missing() -> int:
    """Arm every enabled, scheduled plan whose one-shot schedule is gone or spent."""
    count = 0
    for plan in BackupPlan.objects.filter(enabled=True).exclude(schedule=""):
        if not is_armed(schedule_name(plan)):
            sync_schedule(plan)
            count += 1
    return count
