"""Starting runs: from the admin (queued), the command line (foreground) and the schedule."""

import logging
from datetime import datetime

from django.db import IntegrityError
from django.utils import timezone
from django_q.tasks import async_task

from repositories.models import BackupPlan, PlanRun, Repository, Trigger
from repositories.services import pipeline, scheduling
from repositories.status import Status

logger = logging.getLogger(__name__)
EXECUTE_TASK = "repositories.tasks.execute_run"


def queue_run(plan: BackupPlan, trigger: str = Trigger.ADMIN) -> PlanRun:
    """Record a run and hand it to a worker; raises PlanAlreadyRunning."""
    run = pipeline.create_run(plan, trigger)
    async_task(EXECUTE_TASK, run.pk, q_options={"timeout": -1, "group": f"plan:{plan.pk}"})
    return run


def execute_queued(run_id: int) -> str:
    """The worker's side of queue_run. A second delivery of the same task finds the run
    claimed and does nothing, so a backup longer than the broker's retry runs once."""
    run = PlanRun.objects.select_related("plan").filter(pk=run_id).first()
    if run is None or not pipeline.claim(run):
        return "already taken"
    return pipeline.execute(run).value


def run_in_foreground(plan: BackupPlan, only: Repository | None = None, echo=None, echo_progress=None) -> PlanRun:
    run = pipeline.create_run(plan, Trigger.CLI, only=only)
    pipeline.claim(run)
    pipeline.execute(run, echo=echo, echo_progress=echo_progress)
    run.refresh_from_db()
    return run


def run_scheduled(plan_id: int, slot: str | None = None) -> str:
    plan = BackupPlan.objects.filter(pk=plan_id).first()
    if plan is None:
        return "plan deleted"
    # Re-arm first: the next slot must not depend on this backup finishing.
    scheduling.sync_schedule(plan)
    if not plan.enabled or not plan.schedule:
        return "plan disabled"
    scheduled_for = datetime.fromisoformat(slot) if slot else timezone.now()
    try:
        run = pipeline.create_run(plan, Trigger.SCHEDULE, scheduled_for=scheduled_for)
    except pipeline.PlanAlreadyRunning as e:
        _record_skipped_slot(plan, scheduled_for, str(e))
        return str(e)
    except IntegrityError:
        return "slot already run"  # the same slot delivered twice
    if not pipeline.claim(run):
        return "already taken"
    return pipeline.execute(run).value


def _record_skipped_slot(plan: BackupPlan, scheduled_for: datetime, reason: str) -> None:
    try:
        PlanRun.objects.create(
            plan=plan,
            trigger=Trigger.SCHEDULE,
            scheduled_for=scheduled_for,
            status=Status.SKIPPED,
            reason=f"slot skipped: {reason}",
            finished=timezone.now(),
        )
    except IntegrityError:
        pass


def request_cancel(run: PlanRun) -> bool:
    """Ask the process running it to stop; a run still queued is cancelled at once."""
    now = timezone.now()
    if PlanRun.objects.filter(pk=run.pk, status=Status.PENDING).update(
        status=Status.FAILURE, reason="cancelled", finished=now, cancel_requested=True
    ):
        run.jobs.update(status=Status.SKIPPED, reason="not started: cancelled", finished=now)
        return True
    return bool(
        PlanRun.objects.filter(pk=run.pk, status__in=[Status.RUNNING, Status.WAITING]).update(cancel_requested=True)
    )
