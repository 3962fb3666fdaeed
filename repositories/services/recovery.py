"""Finishing runs whose worker died (docs/running-plans.md#recovery): status failure, reason "interrupted", then
the post steps it still owed — repository post chains of jobs whose pre chain started, the
plan post chain, and the after-run steps (containers started again, hook runs of the dead
worker marked interrupted). The same minute task runs the periodic work the apps register
in steps.py: it tries again to start containers that finished runs could not start, and
finishes script tests whose worker died."""

import logging
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from repositories.models import PlanRun, RepositoryJob
from repositories.services import leases, steps
from repositories.services.monitor import RunLog, RunMonitor
from repositories.services.pipeline import worker_gone, worker_identity
from repositories.status import Status

logger = logging.getLogger(__name__)
INTERRUPTED = "interrupted"


def dead_ids(active, stale_after: float) -> list[int]:
    """Of ACTIVE (runs, restores, maintenance jobs: rows with a heartbeat and the worker_identity
    of their process), those whose heartbeat stopped or whose process on this machine is gone:
    a worker that starts again finds them at once, without waiting STALE_AFTER seconds."""
    cutoff = timezone.now() - timedelta(seconds=stale_after)
    rows = active.values_list("pk", "heartbeat", "worker")
    return [pk for pk, heartbeat, worker in rows if (heartbeat and heartbeat < cutoff) or worker_gone(worker)]


def dead_runs(stale_after: float) -> list[PlanRun]:
    """Running or waiting runs whose heartbeat stopped, or whose process here is gone."""
    active = PlanRun.objects.filter(status__in=[Status.RUNNING, Status.WAITING])
    return list(PlanRun.objects.filter(pk__in=dead_ids(active, stale_after)).select_related("plan").order_by("pk"))


def expire_pending(max_age: float) -> int:
    """Pending runs whose task never started (lost with a deleted queue): failure."""
    cutoff = timezone.now() - timedelta(seconds=max_age)
    return PlanRun.objects.filter(status=Status.PENDING, created__lt=cutoff).update(
        status=Status.FAILURE, reason="never started: no worker picked it up", finished=timezone.now()
    )


def recover_run(run: PlanRun) -> bool:
    """Finish one dead run; False when another process recovered it first.

    The run stays active, with this process's heartbeat, while its post steps run, and
    becomes failure/"interrupted" with its whole log in one update at the end: whoever sees
    the final status sees what recovery did. A recovery that dies itself is recovered again,
    and runs only the post steps still owed.
    """
    dead_worker = run.worker or "(unknown)"
    taken = PlanRun.objects.filter(pk=run.pk, status=run.status, heartbeat=run.heartbeat).update(
        heartbeat=timezone.now(), worker=worker_identity()
    )
    if not taken:
        return False
    run.refresh_from_db()
    log = RunLog(initial=run.log)
    log(f"run {run.pk} interrupted: its worker {dead_worker} stopped; running its pending post steps")
    ctx = steps.StepContext(run=run, log=log, recovering=True)
    try:
        with RunMonitor(run, log):
            _finish_jobs(ctx, run)
            if not run.plan_post_done:  # the plan post chain always runs (docs/running-plans.md#which-chains-run)
                steps.plan_post(ctx, Status.FAILURE)
                PlanRun.objects.filter(pk=run.pk).update(plan_post_done=True)
            steps.after_run(ctx)
    finally:
        leases.release_all(run)
        PlanRun.objects.filter(pk=run.pk).update(
            status=Status.FAILURE, reason=INTERRUPTED, finished=timezone.now(), log=log.value()
        )
    run.refresh_from_db()
    steps.run_finished(ctx, Status.FAILURE)
    return True


def _finish_jobs(ctx: steps.StepContext, run: PlanRun) -> None:
    for job in run.jobs.select_related("repository").order_by("order", "id"):
        if job.pre_started and not job.post_done:
            ctx.job = job
            steps.repository_post(ctx, Status.FAILURE)
            ctx.job = None
            RepositoryJob.objects.filter(pk=job.pk).update(post_done=True)
        if Status(job.status).is_active:
            reached = job.pre_started
            RepositoryJob.objects.filter(pk=job.pk).update(
                status=Status.FAILURE if reached else Status.SKIPPED,
                reason=INTERRUPTED if reached else f"not reached: {INTERRUPTED}",
                finished=timezone.now(),
            )


def recover_runs(stale_after: float | None = None) -> list[PlanRun]:
    stale_after = settings.BORGUI_STALE_AFTER_SECONDS if stale_after is None else stale_after
    expire_pending(settings.BORGUI_PENDING_EXPIRY_SECONDS)
    recovered = [run for run in dead_runs(stale_after) if recover_run(run)]
    steps.run_periodic()  # what the apps registered: container start retries, stale script tests
    return recovered
