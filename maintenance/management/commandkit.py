"""What the maintenance commands share (docs/maintenance.md): a job recorded and run in
the foreground, printing its log; one-line errors; exit 0 ok, 2 errors found or failed."""

import signal
import sys
import threading

from django.core.management.base import BaseCommand, CommandError


class MaintenanceCommand(BaseCommand):
    requires_system_checks = []
    requires_migrations_checks = False

    def get_repository(self, name: str):
        from repositories.models import Repository

        repository = Repository.objects.filter(name=name).first()
        if repository is None:
            raise CommandError(f"no repository named {name!r}", returncode=2)
        return repository

    def get_plan(self, name: str):
        from repositories.models import BackupPlan

        plan = BackupPlan.objects.filter(name=name).first()
        if plan is None:
            raise CommandError(f"no backup plan named {name!r}", returncode=2)
        return plan

    def run_job(self, kind, **job_fields):
        from maintenance.models import MaintenanceTrigger
        from maintenance.services import jobs
        from repositories.status import Status

        try:
            job = jobs.create_job(kind, trigger=MaintenanceTrigger.CLI, requested_by="command", **job_fields)
        except jobs.AlreadyRunning as e:
            raise CommandError(str(e), returncode=2) from e
        self._cancel_on_ctrl_c(job)
        status = jobs.execute(job, echo=self._echo)
        job.refresh_from_db()
        for line in self.summary(job):
            self.stdout.write(line)
        self.stdout.write(f"status: {status.value}")
        sys.exit(2 if status == Status.FAILURE else 0)

    def summary(self, job) -> list[str]:
        return []

    def _echo(self, line: str) -> None:
        self.stdout.write(line)
        self.stdout.flush()

    def _cancel_on_ctrl_c(self, job) -> None:
        from maintenance.services import jobs

        def handler(signum, frame):
            signal.signal(signal.SIGINT, signal.default_int_handler)
            self.stderr.write(f"cancelling the {job.kind} (Ctrl-C again to abort)")
            threading.Thread(target=jobs.request_cancel, args=[job]).start()

        signal.signal(signal.SIGINT, handler)
