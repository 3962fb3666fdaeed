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

from repositories import borg
from repositories.models import PlanRun, Repository, RepositoryJob, RepositoryLease
from repositories.services import leases, steps
from repositories.services.monitor import RunLog, RunMonitor, worker_gone, worker_identity
from repositories.status import Status

logger = logging.getLogger(__name__)
INTERRUPTED = "interrupted"


def dead_ids(active, stale_after: float) -> list[int]:
    """Of ACTIVE (runs, restores, maintenance jobs: rows with a heartbeat and the worker_identity
    of their process), those whose heartbeat stopped or whose process on this machine is gone:
    a worker that starts again finds them at once, without waiting STALE_AFTER seconds."""
    cutoff = timezone.now() - timedelta(seconds=stale_after)
    rows = active.values_list("pk", "heartbeat", "worker")
    return [pk for pk, heartbeat, worker in rows if _dead(heartbeat, worker, cutoff)]


def _dead(heartbeat, worker: str, cutoff) -> bool:
    return bool(heartbeat and heartbeat < cutoff) or worker_gone(worker)


def _is_dead(run: PlanRun, stale_after: float) -> bool:
    return _dead(run.heartbeat, run.worker, timezone.now() - timedelta(seconds=stale_after))


def dead_runs(stale_after: float) -> list[PlanRun]:
    """Running or waiting runs whose heartbeat stopped, or whose process here is gone."""
    active = PlanRun.objects.filter(status__in=[Status.RUNNING, Status.WAITING])
    return list(PlanRun.objects.filter(pk__in=dead_ids(active, stale_after)).select_related("plan").order_by("pk"))


def recover_dead_holder(repository: Repository) -> bool:
    """Recover the run holding REPOSITORY's lease if its worker died; True when this process did.

    A run waiting for the lease calls this while it waits (docs/scaling.md#recovery-across-machines):
    the minute task that would recover the holder needs a free worker, and every worker may be
    one of the runs waiting for it."""
    run = leases.holder(repository)
    if run is None or not _is_dead(run, settings.BORGUI_STALE_AFTER_SECONDS):
        return False
    return recover_run(run)


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
            if reached:
                _break_dead_borg_lock(ctx, job)
            RepositoryJob.objects.filter(pk=job.pk).update(
                status=Status.FAILURE if reached else Status.SKIPPED,
                reason=INTERRUPTED if reached else f"not reached: {INTERRUPTED}",
                finished=timezone.now(),
            )


def _break_dead_borg_lock(ctx: steps.StepContext, job: RepositoryJob) -> None:
    """The dead worker's borg may have left its lock in the repository. borg removes a
    stale lock by itself only on the machine that took it (its lock names the host), so a
    worker on another machine would wait for it and fail. The run's lease says no other
    borgui process uses the repository, so the lock can only be the dead worker's."""
    if not RepositoryLease.objects.filter(repository=job.repository, run=ctx.run).exists():
        return
    result = borg.break_lock(job.repository)
    outcome = "broken" if result.ok else f"not broken: {result.error_line()}"
    ctx.log(f"{job.repository.name}: borg lock of the stopped worker {outcome}")


def recover_runs(stale_after: float | None = None) -> list[PlanRun]:
    stale_after = settings.BORGUI_STALE_AFTER_SECONDS if stale_after is None else stale_after
    expire_pending(settings.BORGUI_PENDING_EXPIRY_SECONDS)
    recovered = [run for run in dead_runs(stale_after) if recover_run(run)]
    steps.run_periodic()  # what the apps registered: container start retries, stale script tests
    return recovered
