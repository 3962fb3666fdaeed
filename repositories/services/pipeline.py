"""Running a plan: the order and failure semantics of docs/running-plans.md (#order, #failure-semantics).

    0. leases on every repository (id order)       — before anything can stop a service
    1. plan pre steps (hook chain, container stop)  — registered in steps.py
    2. per repository, in order: pre steps, borg create, prune, post steps
    3. plan post steps, filtered by the run's status
    4. after-run steps (containers started again)   — always

Post steps run even when something before them raised: cleanup never stops half way.
"""

import logging
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from common.db import reconnect_if_broken
from common.text import mask
from repositories import archive_names, borg
from repositories.models import BackupPlan, OnRepositoryFailure, PlanRun, Repository, RepositoryJob
from repositories.services import leases, recovery, remote_sources, steps
from repositories.services.monitor import RunLog, RunMonitor, worker_identity
from repositories.services.retention import retention_conflicts
from repositories.status import ChainOutcome, Status, at_least_warning, combine, overall_status, status_from_borg_exit

logger = logging.getLogger(__name__)


class PlanAlreadyRunning(Exception):
    pass


def create_run(plan: BackupPlan, trigger: str, only: Repository | None = None, scheduled_for=None) -> PlanRun:
    """Record a pending run with one job per repository (in the plan's order)."""
    with transaction.atomic():
        # The plan's row lock makes check-then-create one step for every process: a run
        # started from the admin and one from the command at the same moment cannot both start.
        BackupPlan.objects.select_for_update().filter(pk=plan.pk).first()
        active = plan.runs.filter(status__in=Status.active_values()).first()
        if active is not None:
            raise PlanAlreadyRunning(f"plan {plan.name} is already running (run {active.pk})")
        run = PlanRun.objects.create(plan=plan, trigger=trigger, scheduled_for=scheduled_for)
        repositories = plan.ordered_repositories()
        if only is not None:
            repositories = [r for r in repositories if r.pk == only.pk]
        RepositoryJob.objects.bulk_create(
            RepositoryJob(run=run, repository=repository, order=index) for index, repository in enumerate(repositories)
        )
    return run


def claim(run: PlanRun) -> bool:
    """Mark a pending run as ours; False when another delivery of the task already has it."""
    claimed = PlanRun.objects.filter(pk=run.pk, status=Status.PENDING).update(
        status=Status.RUNNING, started=timezone.now(), heartbeat=timezone.now(), worker=worker_identity()
    )
    if claimed:
        run.refresh_from_db()
    return bool(claimed)


def execute(run: PlanRun, echo=None, echo_progress=None) -> Status:
    """Run a claimed run to the end; return its final status."""
    log = RunLog(echo=echo)
    with RunMonitor(run, log) as monitor:
        monitor.echo_progress = echo_progress or echo
        ctx = steps.StepContext(run=run, log=log, monitor=monitor)
        runner = _PlanRunner(run, ctx, monitor)
        try:
            status = runner.execute()
        finally:
            reconnect_if_broken()
            leases.release_all(run)
        runner.after_leases()
    return status


class _PlanRunner:
    def __init__(self, run: PlanRun, ctx: steps.StepContext, monitor: RunMonitor):
        self.run = run
        self.plan = run.plan
        self.ctx = ctx
        self.log = ctx.log
        self.monitor = monitor
        self.jobs = list(run.jobs.select_related("repository").order_by("order", "id"))
        self.plan_pre_outcome = ChainOutcome.OK

    # --- the steps -------------------------------------------------------------------

    def execute(self) -> Status:
        self.log(f"run {self.run.pk} of plan {self.plan.name} ({self.run.trigger})")
        blocked = self._take_leases()
        if blocked is not None:
            return self._finish_unstarted(blocked)
        self._set_run_status(Status.RUNNING)
        status, reason = Status.FAILURE, "internal error"
        try:
            status, reason = self._run_steps()
        except Exception as e:
            logger.exception("run %s failed", self.run.pk)
            self.log(f"internal error: {e}")
        finally:
            # Whatever happened above, stopped services come back before the run is done.
            self._after_run()
        return self._finish(status, reason)

    def _finish_unstarted(self, blocked: Repository) -> Status:
        """No lease, so nothing ran: every job is skipped, and the plan post chain still
        runs with `failure` (it always does: docs/running-plans.md#which-chains-run), so a hook hears of it."""
        reason = (
            "cancelled"
            if self.monitor.cancelled.is_set()
            else f"timed out waiting for repository {blocked.name} (another backup is writing it)"
        )
        self.log(reason)
        for job in self.jobs:
            self._finish_job(job, Status.SKIPPED, reason="not started: " + reason)
        self._plan_post(Status.FAILURE)
        return self._finish(Status.FAILURE, reason)

    def _take_leases(self) -> Repository | None:
        def on_wait(repository, holder):
            by = f" (held by {holder.plan.name} run {holder.pk})" if holder else ""
            self.log(f"waiting for repository {repository.name}{by}")
            self._set_run_status(Status.WAITING)

        return leases.take_all(
            self.run,
            [job.repository for job in self.jobs],
            wait_seconds=settings.BORGUI_LEASE_WAIT_SECONDS,
            on_wait=on_wait,
            cancelled=self.monitor.cancelled.is_set,
            while_waiting=recovery.recover_dead_holder,
        )

    def _run_steps(self) -> tuple[Status, str]:
        PlanRun.objects.filter(pk=self.run.pk).update(plan_pre_started=True)
        pre = steps.plan_pre(self.ctx)
        self.plan_pre_outcome = pre
        reached, stopped_by = not pre.stops_backup, ""
        if pre == ChainOutcome.FAILED:
            stopped_by = "plan pre-backup hook failed"
        elif pre == ChainOutcome.SKIPPED:
            stopped_by = "plan pre-backup hook skipped the backup"
        for job in self.jobs:
            if not reached or self.monitor.cancelled.is_set():
                self._finish_job(job, Status.SKIPPED, reason="not reached: " + (stopped_by or "cancelled"))
                continue
            status = self._run_job(job)
            if status == Status.FAILURE and self.plan.on_repository_failure == OnRepositoryFailure.STOP:
                reached, stopped_by = False, f"on_repository_failure is stop and {job.repository.name} failed"
        status = overall_status(pre, [Status(job.status) for job in self.jobs])
        if not stopped_by and status in (Status.WARNING, Status.FAILURE):
            stopped_by = self._jobs_reason()
        if self.monitor.cancelled.is_set():
            # A cancelled run is a failure for its hooks, wherever the cancel came.
            status, stopped_by = Status.FAILURE, "cancelled"
        status = self._plan_post(status)
        if self.monitor.cancelled.is_set():
            return Status.FAILURE, "cancelled"
        return status, stopped_by

    def _run_job(self, job: RepositoryJob) -> Status:
        job.started, job.pre_started = timezone.now(), True
        job.status = Status.RUNNING
        job.save(update_fields=["started", "pre_started", "status"])
        status, reason = Status.FAILURE, ""
        self.ctx.job = job
        try:
            status, reason = self._back_up_repository(job)
        except Exception as e:
            logger.exception("job %s failed", job.pk)
            status, reason = Status.FAILURE, f"internal error: {e}"
            self.log(f"{job.repository.name}: {reason}")
        finally:
            status = steps.repository_post(self.ctx, status)
            RepositoryJob.objects.filter(pk=job.pk).update(post_done=True)
            self.ctx.job = None
        self._finish_job(job, status, reason)
        return status

    def _back_up_repository(self, job: RepositoryJob) -> tuple[Status, str]:
        """The job's pre steps, borg create and prune: its status before its post steps."""
        outcome = steps.repository_pre(self.ctx)
        if outcome == ChainOutcome.FAILED:
            return Status.FAILURE, "pre-backup hook failed"
        if outcome == ChainOutcome.SKIPPED:
            return Status.SKIPPED, "pre-backup hook skipped the backup"
        if self.monitor.cancelled.is_set():
            return Status.FAILURE, "cancelled"
        try:
            status, reason = self._create_archive(job)
        except remote_sources.SourceUnavailable as e:  # docs/remote-sources.md
            self.log(f"{job.repository.name}: {e}")
            return Status.FAILURE, str(e)
        if self.monitor.cancelled.is_set():
            return Status.FAILURE, "cancelled"
        if status != Status.FAILURE and self.plan.has_retention:
            status = self._prune(job, status)
        # A plan pre hook's `continue` failure makes every job that succeeds a warning.
        return combine(self.plan_pre_outcome, outcome).apply_to(status), reason

    def _plan_post(self, status: Status) -> Status:
        status = steps.plan_post(self.ctx, status)
        PlanRun.objects.filter(pk=self.run.pk).update(plan_post_done=True)
        return status

    def _after_run(self) -> None:
        steps.after_run(self.ctx)

    def after_leases(self) -> None:
        steps.after_leases(self.ctx)

    # --- borg ------------------------------------------------------------------------

    def _create_archive(self, job: RepositoryJob) -> tuple[Status, str]:
        """borg create's status and its reason: borg's warning lines for a warning (a missing
        source path…), its error line for a failure (docs/running-plans.md#statuses)."""
        repository = job.repository
        name = archive_names.render(self.plan.archive_name, self.plan.name, repository.name, self._now())
        # Sources on the source host are mounted for exactly this long (docs/remote-sources.md).
        job.create_started = timezone.now()
        RepositoryJob.objects.filter(pk=job.pk).update(create_started=job.create_started)
        with remote_sources.borg_sources(self.plan, job, self.log) as sources:
            for attempt in range(1, 100):
                archive = archive_names.with_suffix(name, attempt)
                result = self._borg_create(job, archive, sources)
                if "Archive.AlreadyExists" not in result.msgids:
                    break
                self.log(f"{repository.name}: archive {archive} exists, trying the next suffix")
        job.create_finished = timezone.now()
        self._record_create(job, archive, result)
        status = status_from_borg_exit(result.exit_code)
        if status != Status.FAILURE:
            borg.mark_initialised(repository)
        self.log(f"{repository.name}: borg create {archive} exit {result.exit_code}: {status.value}")
        if sources.lost:  # whatever borg said, the archive lacks what it could not read
            raise remote_sources.SourceUnavailable(f"{sources.lost} in archive {archive}")
        secrets = [repository.passphrase] if repository.passphrase else []
        reason = ""
        if status == Status.FAILURE:
            reason = mask(result.error_line(), secrets)
        elif status == Status.WARNING:
            reason = mask(result.warning_line() or f"borg exited with {result.exit_code} (a warning)", secrets)
        if reason:
            self.log(f"{repository.name}: {reason}")
        return status, reason

    def _borg_create(self, job: RepositoryJob, archive: str, sources: remote_sources.BorgSources) -> borg.BorgResult:
        args = borg.plan_create_args(self.plan, job.repository, archive, sources.paths, sources.options)

        def on_event(event: dict) -> None:
            if event.get("type") == "archive_progress" and "nfiles" in event:
                self.monitor.progress.update(job.pk, event["nfiles"], event.get("original_size", 0), event.get("path"))

        def on_start(process: borg.BorgProcess) -> None:
            self.monitor.on_cancel[:] = [process.interrupt]
            if self.monitor.cancelled.is_set():
                process.interrupt()

        # The rate and time left count from here, not from the pre hooks (docs/dashboard.md#progress).
        job.progress_started = timezone.now()
        RepositoryJob.objects.filter(pk=job.pk).update(progress_started=job.progress_started)
        try:
            return borg.run(job.repository, args, on_event=on_event, on_start=on_start, cwd=sources.cwd)
        finally:
            self.monitor.on_cancel[:] = []

    def _record_create(self, job: RepositoryJob, archive: str, result: borg.BorgResult) -> None:
        job.borg_exit_code = result.exit_code
        job.log = result.log.value()
        # The archive list records the new archive from this output (docs/archives.md).
        self.ctx.created_archives[job.pk] = result.json().get("archive", {})
        self.ctx.created_cache_stats[job.pk] = (result.json().get("cache") or {}).get("stats", {})
        stats = result.json().get("archive", {}).get("stats", {})
        if result.exit_code in (0, 1) or stats:
            job.archive_name = archive
        job.nfiles = stats.get("nfiles")
        job.original_size = stats.get("original_size")
        job.compressed_size = stats.get("compressed_size")
        job.deduplicated_size = stats.get("deduplicated_size")
        if stats:
            self.monitor.progress.update(job.pk, stats.get("nfiles", 0), stats.get("original_size", 0))
        job.save(
            update_fields=[
                "borg_exit_code", "log", "archive_name", "nfiles", "original_size", "compressed_size",
                "deduplicated_size", "create_finished",
            ]
        )  # fmt: skip

    def _prune(self, job: RepositoryJob, status: Status) -> Status:
        repository = job.repository
        conflicts = retention_conflicts(self.plan, [repository])
        if conflicts:
            self.log(f"{repository.name}: prune refused: {conflicts[0]}")
            return at_least_warning(status)
        prefix = archive_names.fixed_prefix(self.plan.archive_name, self.plan.name, repository.name)
        pruned = []

        def on_event(event: dict) -> None:
            if event.get("type") == "log_message" and event.get("message", "").startswith("Pruning archive"):
                pruned.append(event["message"])

        args = borg.prune_args(repository, prefix, self.plan.retention_options())
        RepositoryJob.objects.filter(pk=job.pk).update(prune_started=timezone.now())
        result = borg.run(repository, args, on_event=on_event)
        RepositoryJob.objects.filter(pk=job.pk).update(
            prune_finished=timezone.now(), prune_exit_code=result.exit_code, prune_log=result.log.value()
        )
        self.log(f"{repository.name}: borg prune {prefix}* exit {result.exit_code}, {len(pruned)} archive(s) pruned")
        if result.exit_code != 0:
            self.log(f"{repository.name}: {result.error_line()}")
            return at_least_warning(status)
        self.ctx.pruned_repository_ids.add(repository.pk)  # its archive list is refreshed
        self.ctx.pruned_archive_counts[repository.pk] = len(pruned)  # compact after prune
        return status

    # --- bookkeeping -----------------------------------------------------------------

    def _jobs_reason(self) -> str:
        """The run's reason when no chain stopped it: what went wrong per repository."""
        bad = [job for job in self.jobs if job.reason and job.status in (Status.WARNING, Status.FAILURE)]
        return "; ".join(f"{job.repository.name}: {job.reason}" for job in bad)

    def _now(self) -> datetime:
        zone = ZoneInfo(self.plan.timezone) if self.plan.timezone else UTC
        return datetime.now(zone)

    def _finish_job(self, job: RepositoryJob, status: Status, reason: str = "") -> None:
        job.status, job.reason, job.finished = status, reason[:500], timezone.now()
        job.save(update_fields=["status", "reason", "finished"])
        if reason and status == Status.SKIPPED:
            self.log(f"{job.repository.name}: skipped ({reason})")

    def _set_run_status(self, status: Status) -> None:
        PlanRun.objects.filter(pk=self.run.pk, status__in=Status.active_values()).update(status=status)
        self.run.status = status

    def _finish(self, status: Status, reason: str = "") -> Status:
        self.log(f"run {self.run.pk} finished: {status.value}" + (f" ({reason})" if reason else ""))
        reconnect_if_broken()
        # The whole log with the final status: whoever sees "finished" sees everything.
        PlanRun.objects.filter(pk=self.run.pk).update(
            status=status, reason=reason[:500], finished=timezone.now(), log=self.log.value()
        )
        self.run.status = status
        steps.run_finished(self.ctx, status)
        return status
