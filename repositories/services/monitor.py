"""What a running plan shows to other processes: heartbeat, log, progress, cancellation.

The run's own thread only changes in-memory state; a monitor thread writes it to the
database at least every ``interval`` seconds (with its own connection), and reads back the
cancel flag the admin sets. Writes are targeted UPDATEs, so they never clobber the
fields the run's thread saves.
"""

import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, close_old_connections
from django.utils import timezone

from common import shutdown
from common.periodic import Periodic
from common.text import SharedBoundedText, printable
from repositories import progress as estimates
from repositories.models import PROGRESS_PATH_LENGTH, PlanRun, RepositoryJob

LOG_HEAD = 64 * 1024
LOG_TAIL = 192 * 1024


def worker_identity() -> str:
    """host:pid of this process, as runs, holds and recovery record it."""
    return f"{socket.gethostname()}:{os.getpid()}"


def worker_gone(worker: str) -> bool:
    """WORKER (a worker_identity) is a process of this machine that is gone."""
    host, _, pid = worker.rpartition(":")
    return host == socket.gethostname() and pid.isdigit() and not _pid_alive(int(pid))


def _pid_alive(pid: int) -> bool:
    """Is the process running? A zombie (killed, not yet reaped by its parent) is not."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # The state follows the command name in parentheses, which may itself contain spaces.
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


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
        self._last_heartbeat = time.monotonic()
        # The terminal of `run_backup`: a progress line whenever borg moved on.
        self.echo_progress: Callable[[str], None] | None = None
        self._terminal_job: RepositoryJob | None = None

    def __exit__(self, *exc):
        super().__exit__(*exc)
        self.flush()

    def tick(self) -> None:
        try:
            self.flush()
            self._check_cancel()
        except DatabaseError:
            # flush() opens a fresh connection next time (close_old_connections drops a broken
            # one): the heartbeat goes on once the database is back.
            self._fence_if_cut_off()
            return
        self._last_heartbeat = time.monotonic()

    def _fence_if_cut_off(self) -> None:
        """Without a heartbeat for half the stale time, another worker is about to take this run
        over (and break its borg lock, docs/scaling.md#recovery-across-machines): stop it here
        first, so that two machines never write to one repository."""
        silent = time.monotonic() - self._last_heartbeat
        if silent > settings.BORGUI_STALE_AFTER_SECONDS / 2:
            self._cancel(f"no heartbeat written for {silent:.0f} s (the database is out of reach): stopping")

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
        stopping = shutdown.requested()
        if stopping or PlanRun.objects.filter(pk=self.run_id, cancel_requested=True).exists():
            self._cancel(shutdown.REASON if stopping else "cancel requested: stopping")

    def _cancel(self, why: str) -> None:
        if self.cancelled.is_set():
            return
        self.cancelled.set()
        self.log(why)
        for callback in list(self.on_cancel):
            threading.Thread(target=callback, daemon=True).start()
