"""Maintenance jobs (docs/maintenance.md): recorded, followed live, cancellable, never two of
one kind on one repository (or plan) at once, queued on the worker from the admin or run in
the foreground by the commands.

Each kind's work is a function of a JobContext (``maintenance.services.KINDS``); it takes
the leases it needs through ``ctx.hold`` (writer for check and compact, reader for verify),
so the job shows `waiting` while a backup or restore holds the repository.
"""

import logging
import threading
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.utils import timezone
from django.utils.module_loading import import_string
from django_q.tasks import async_task

from common import shutdown
from maintenance.models import MaintenanceJob, MaintenanceKind, MaintenanceTrigger
from repositories.models import BackupPlan, LeaseMode, Repository
from repositories.services import leases, recovery
from repositories.services.monitor import RunLog, worker_identity
from repositories.status import Status

logger = logging.getLogger(__name__)
EXECUTE_TASK = "maintenance.tasks.execute_job"
# What each kind does: a function (JobContext) -> Outcome, imported when a job first runs.
RUNNERS = {
    MaintenanceKind.CHECK: "maintenance.services.repository.run_check",
    MaintenanceKind.COMPACT: "maintenance.services.repository.run_compact",
    MaintenanceKind.VERIFY: "maintenance.services.verify.run_verify",
    MaintenanceKind.DRILL: "maintenance.services.drill.run_drill",
}


class AlreadyRunning(Exception):
    """A job of that kind is already queued or running on that repository (or plan)."""


class MaintenanceRefused(Exception):
    """The job cannot be done as asked; one line for the user."""


@dataclass
class Outcome:
    status: Status
    reason: str = ""
    output: list[str] = field(default_factory=list)  # the lines a failure notification shows


def target_of(kind: MaintenanceKind, repository: Repository | None, plan: BackupPlan | None) -> str:
    return f"plan:{plan.pk}" if kind.per_plan else f"repository:{repository.pk}"


def create_job(
    kind: MaintenanceKind | str, *, repository: Repository | None = None, plan: BackupPlan | None = None,
    trigger: str = MaintenanceTrigger.CLI, options: dict | None = None, scheduled_for=None, requested_by: str = "",
) -> MaintenanceJob:  # fmt: skip
    """Record a pending job; AlreadyRunning when one of that kind is active on the same thing."""
    kind = MaintenanceKind(kind)
    target = target_of(kind, repository, plan)
    with transaction.atomic():
        # The owner's row lock makes check-then-create one step for every process.
        owner_model, owner = (BackupPlan, plan) if kind.per_plan else (Repository, repository)
        owner_model.objects.select_for_update().filter(pk=owner.pk).first()
        active = MaintenanceJob.objects.filter(kind=kind, target=target, status__in=Status.active_values()).first()
        if active is not None:
            raise AlreadyRunning(f"a {kind.value} of {owner.name} is already {active.status} (job {active.pk})")
        return MaintenanceJob.objects.create(
            kind=kind, target=target, repository=repository, plan=plan, trigger=trigger, options=options or {},
            scheduled_for=scheduled_for, requested_by=requested_by,
        )  # fmt: skip


def queue(job: MaintenanceJob) -> None:
    async_task(EXECUTE_TASK, job.pk, q_options={"timeout": -1, "group": f"maintenance:{job.target}"})


def execute_queued(job_id: int) -> str:
    job = MaintenanceJob.objects.select_related("repository", "plan").filter(pk=job_id).first()
    if job is None:
        return "job deleted"
    return execute(job).value


def request_cancel(job: MaintenanceJob) -> bool:
    """Ask the process running it to stop; a job still queued is cancelled at once."""
    if MaintenanceJob.objects.filter(pk=job.pk, status=Status.PENDING).update(
        status=Status.FAILURE, reason="cancelled", finished=timezone.now(), cancel_requested=True
    ):
        return True
    active = [Status.RUNNING, Status.WAITING]
    return bool(MaintenanceJob.objects.filter(pk=job.pk, status__in=active).update(cancel_requested=True))


class JobContext:
    """What a kind's runner uses: the log, progress, cancellation, leases, results."""

    def __init__(self, job: MaintenanceJob, echo: Callable[[str], None] | None = None):
        self.job = job
        self.log = RunLog(echo=echo)
        self.cancelled = threading.Event()
        self.on_cancel: list[Callable[[], None]] = []
        self.progress = ""
        self.results: dict = {}
        self._version = 0

    def set_progress(self, text: str) -> None:
        self.progress = text[:200]
        self._version += 1

    def _set_status(self, status: Status) -> None:
        MaintenanceJob.objects.filter(pk=self.job.pk, status__in=Status.active_values()).update(status=status)

    @contextmanager
    def hold(self, repository: Repository, mode: LeaseMode | None = None):
        """The repository's lease for this job (waiting shows as `waiting`)."""
        mode = mode or MaintenanceKind(self.job.kind).lease_mode

        def on_wait(message: str) -> None:
            self.log(message)
            self._set_status(Status.WAITING)

        description = f"{self.job.kind} job {self.job.pk}"
        with leases.hold(repository, mode, description, cancelled=self.cancelled.is_set, on_wait=on_wait) as row:
            self._set_status(Status.RUNNING)
            yield row

    def borg_started(self, process) -> None:
        """For borg.run's on_start: a cancel interrupts borg as Ctrl-C would."""
        self.on_cancel[:] = [process.interrupt]
        if self.cancelled.is_set():
            process.interrupt()


class _Monitor(threading.Thread):
    """Saves heartbeat, log and progress every second (own connection); watches for a cancel."""

    def __init__(self, ctx: JobContext):
        super().__init__(daemon=True, name=f"maintenance-{ctx.job.pk}-monitor")
        self.ctx = ctx
        self.stopped = threading.Event()

    def run(self):
        try:
            while not self.stopped.wait(settings.BORGUI_HEARTBEAT_SECONDS):
                self.save()
                self._check_cancel()
        finally:
            connection.close()

    def save(self) -> None:
        close_old_connections()
        MaintenanceJob.objects.filter(pk=self.ctx.job.pk).update(
            heartbeat=timezone.now(), log=self.ctx.log.value(), progress=self.ctx.progress
        )

    def _check_cancel(self) -> None:
        ctx = self.ctx
        if ctx.cancelled.is_set():
            return
        stopping = shutdown.requested()
        if not stopping and not MaintenanceJob.objects.filter(pk=ctx.job.pk, cancel_requested=True).exists():
            return
        ctx.cancelled.set()
        ctx.log(shutdown.REASON if stopping else "cancel requested: stopping")
        for callback in list(ctx.on_cancel):
            threading.Thread(target=callback, daemon=True).start()


def claim(job: MaintenanceJob) -> bool:
    claimed = MaintenanceJob.objects.filter(pk=job.pk, status=Status.PENDING).update(
        status=Status.RUNNING, started=timezone.now(), heartbeat=timezone.now(), worker=worker_identity()
    )
    if claimed:
        job.refresh_from_db()
    return bool(claimed)


def execute(job: MaintenanceJob, echo: Callable[[str], None] | None = None) -> Status:
    """Claim and run JOB to the end in this process; its final status (saved and notified)."""
    if not claim(job):
        job.refresh_from_db()
        return Status(job.status)
    ctx = JobContext(job, echo=echo)
    ctx.log(f"{job.kind} job {job.pk} of {job.subject} ({job.trigger})")
    monitor = _Monitor(ctx)
    monitor.start()
    outcome = Outcome(Status.FAILURE, "internal error")
    try:
        outcome = import_string(RUNNERS[MaintenanceKind(job.kind)])(ctx)
    except (leases.RepositoryBusy, MaintenanceRefused) as e:
        outcome = Outcome(Status.FAILURE, "cancelled" if ctx.cancelled.is_set() else str(e))
    except Exception as e:
        logger.exception("maintenance job %s failed", job.pk)
        outcome = Outcome(Status.FAILURE, f"internal error: {e}")
    finally:
        monitor.stopped.set()
        monitor.join()
    if ctx.cancelled.is_set() and outcome.status != Status.FAILURE:
        outcome = Outcome(Status.FAILURE, "cancelled")
    ctx.log(
        f"{job.kind} job {job.pk} finished: {outcome.status.value}" + (f" ({outcome.reason})" if outcome.reason else "")
    )
    MaintenanceJob.objects.filter(pk=job.pk).update(
        status=outcome.status, reason=outcome.reason[:500], finished=timezone.now(), heartbeat=timezone.now(),
        log=ctx.log.value(), progress=ctx.progress, results=ctx.results,
    )  # fmt: skip
    job.refresh_from_db()
    _announce(job, outcome)
    return outcome.status


def _announce(job: MaintenanceJob, outcome: Outcome) -> None:
    """A failure is a `check` or `verify` event; never changes the job's status."""
    from maintenance.services import notify

    try:
        notify.job_finished(job, outcome)
    except Exception:
        logger.exception("could not announce maintenance job %s", job.pk)


def finish_dead_jobs() -> int:
    """Jobs whose process died (stale heartbeat, or its process here gone) are finished as
    failed (the worker's minute task, also run when a worker starts)."""
    active = MaintenanceJob.objects.filter(status__in=[Status.RUNNING, Status.WAITING])
    dead = active.filter(pk__in=recovery.dead_ids(active, settings.BORGUI_STALE_AFTER_SECONDS))
    return dead.update(
        status=Status.FAILURE, reason="interrupted: the process running it stopped", finished=timezone.now()
    )
