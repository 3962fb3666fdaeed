import signal
import sys
import threading

from django.core.management.base import BaseCommand, CommandError

from common.humanize import human_size


class Command(BaseCommand):
    help = "Run a backup plan now, in the foreground. The last line is `status: VALUE`."
    # Start-up time counts (an unchanged re-run should cost little more than borg itself).
    requires_system_checks = []
    requires_migrations_checks = False

    def add_arguments(self, parser):
        parser.add_argument("plan", help="name of the backup plan")
        parser.add_argument("--repository", help="back up only to this repository of the plan")

    def handle(self, *args, plan, repository, **options):
        from repositories.models import BackupPlan
        from repositories.services import pipeline, runs
        from repositories.status import Status

        try:
            backup_plan = BackupPlan.objects.get(name=plan)
        except BackupPlan.DoesNotExist:
            raise CommandError(f"no backup plan named {plan!r}", returncode=2) from None
        only = None
        if repository is not None:
            only = next((r for r in backup_plan.ordered_repositories() if r.name == repository), None)
            if only is None:
                raise CommandError(f"plan {plan!r} has no repository named {repository!r}", returncode=2)
        self._cancel_on_ctrl_c(backup_plan)
        self._redraw = self.stdout.isatty()
        self._line_open = False
        try:
            run = runs.run_in_foreground(backup_plan, only=only, echo=self._echo, echo_progress=self._progress)
        except pipeline.PlanAlreadyRunning as e:
            raise CommandError(str(e), returncode=2) from e
        self._end_progress_line()
        for job in run.jobs.select_related("repository").order_by("order", "id"):
            self.stdout.write(_job_summary(job))
        self.stdout.write(f"status: {run.status}")
        sys.exit(Status(run.status).exit_code)

    def _echo(self, line: str) -> None:
        self._end_progress_line()
        self.stdout.write(line)
        self.stdout.flush()

    def _progress(self, line: str) -> None:
        """On a terminal one line redrawn in place; elsewhere (a log, a pipe) a line each time."""
        if not self._redraw:
            self._echo(line)
            return
        self.stdout.write("\r\x1b[K" + line, ending="")
        self.stdout.flush()
        self._line_open = True

    def _end_progress_line(self) -> None:
        if self._line_open:
            self.stdout.write("")
            self._line_open = False

    def _cancel_on_ctrl_c(self, plan) -> None:
        """First Ctrl-C: cancel cleanly (borg stops, post hooks and restarts still run)."""
        from repositories.models import PlanRun
        from repositories.services import runs
        from repositories.status import Status

        def cancel_active_runs():
            for run in PlanRun.objects.filter(plan=plan, status__in=Status.active_values()):
                runs.request_cancel(run)

        def handler(signum, frame):
            signal.signal(signal.SIGINT, signal.default_int_handler)
            self.stderr.write("cancelling: post-backup steps still run (Ctrl-C again to abort)")
            threading.Thread(target=cancel_active_runs).start()

        signal.signal(signal.SIGINT, handler)


def _job_summary(job) -> str:
    parts = [f"{job.repository.name}: {job.status}"]
    if job.archive_name:
        parts.append(f"archive {job.archive_name}")
    if job.nfiles is not None:
        original, new = human_size(job.original_size), human_size(job.deduplicated_size)
        parts.append(f"{job.nfiles} files, {original} original, {new} new")
    if job.reason:
        parts.append(job.reason)
    return " — ".join(parts)
