"""What a running plan shows to other processes: heartbeat, log, progress, cancellation.

The run's own thread only changes in-memory state; a monitor thread writes it to the
database at least every ``interval`` seconds (with its own connection), and reads back the
cancel flag the admin sets. Writes are targeted UPDATEs, so they never clobber the
fields the run's thread saves.
"""

import threading
from collections.abc import Callable

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from common.periodic import Periodic
from common.text import SharedBoundedText, printable
from repositories import progress as estimates
from repositories.models import PROGRESS_PATH_LENGTH, PlanRun, RepositoryJob

LOG_HEAD = 64 * 1024
LOG_TAIL = 192 * 1024


class RunLog:
    """A bounded, timestamped log (head and tail kept), shared by a run and its monitor."""

    def __init__(self, echo: Callable[[str], None] | None = None, initial: str = ""):
        self._text = SharedBoundedText(initial.rstrip("\n") + "\n" if initial else "", head=LOG_HEAD, tail=LOG_TAIL)
        self.echo = echo

    def __call__(self, message: str) -> None:
        line = f"{timezone.localtime().strftime('%H:%M:%S')} {printable(message)}"
        self._text.append(line + "\n")
        if self.echo is not None:
            self.echo(line)

    @property
    def version(self) -> int:
        return self._text.version

    def value(self) -> str:
        return self._text.value()


class Progress:
    """Files and bytes so far of the job borg is working on, and the file it is reading."""

    def __init__(self):
        self.job_id: int | None = None
        self.files = 0
        self.bytes = 0
        self.path = ""
        self.version = 0

    def update(self, job_id: int, files: int, size: int, path: str | None = None) -> None:
        self.job_id, self.files, self.bytes = job_id, files, size
        if path is not None:
            self.path = path[:PROGRESS_PATH_LENGTH]
        self.version += 1


class RunMonitor(Periodic):
    def __init__(self, run: PlanRun, log: RunLog, interval: float | None = None):
        super().__init__(interval or settings.BORGUI_HEARTBEAT_SECONDS, name=f"run-{run.pk}-monitor")
        self.run_id = run.pk
        self.log = log
        self.progress = Progress()
        self.cancelled = threading.Event()
        self.on_cancel: list[Callable[[], None]] = []
        self._written = (-1, -1)
        # The terminal of `run_backup`: a progress line whenever borg moved on.
        self.echo_progress: Callable[[str], None] | None = None
        self._terminal_job: RepositoryJob | None = None

    def __exit__(self, *exc):
        super().__exit__(*exc)
        self.flush()

    def tick(self) -> None:
        self.flush()
        self._check_cancel()

    def flush(self) -> None:
        close_old_connections()
        fields = {"heartbeat": timezone.now()}
        log_version, progress_version = self.log.version, self.progress.version
        if log_version != self._written[0]:
            fields["log"] = self.log.value()
        PlanRun.objects.filter(pk=self.run_id).update(**fields)
        if progress_version != self._written[1] and self.progress.job_id:
            RepositoryJob.objects.filter(pk=self.progress.job_id).update(
                progress_files=self.progress.files,
                progress_bytes=self.progress.bytes,
                progress_path=self.progress.path,
                progress_updated=timezone.now(),
            )
            if self.echo_progress is not None:
                self._echo_progress()
        self._written = (log_version, progress_version)

    def _echo_progress(self) -> None:
        """The same estimate as the pages (the job and its previous archive read once per job)."""
        job_id = self.progress.job_id
        if self._terminal_job is None or self._terminal_job.pk != job_id:
            self._terminal_job = (
                estimates.with_baselines(RepositoryJob.objects.filter(pk=job_id)).select_related("repository").first()
            )
        job = self._terminal_job
        if job is None:
            return
        job.progress_files, job.progress_bytes, job.progress_path = self.progress.files, self.progress.bytes, ""
        job.progress_updated = timezone.now()
        self.echo_progress(estimates.terminal_line(job.repository.name, estimates.job_estimate(job)))

    def _check_cancel(self) -> None:
        if self.cancelled.is_set():
            return
        if PlanRun.objects.filter(pk=self.run_id, cancel_requested=True).exists():
            self.cancelled.set()
            self.log("cancel requested: stopping")
            for callback in list(self.on_cancel):
                threading.Thread(target=callback, daemon=True).start()
