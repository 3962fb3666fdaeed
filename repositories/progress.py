"""How far a running backup is, and how long it still needs (docs/dashboard.md#progress).

The total is taken from the previous archive of the same plan in the same repository (its
files and original size, as ``borg create --json`` reported them): borgui never walks the
sources to guess one. ``estimate`` is a pure function; ``running_jobs`` reads every running
job with its previous archive in one query, whatever the number of runs.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone

from common.humanize import human_duration, human_size
from repositories.models import RepositoryJob
from repositories.status import Status

# Until borg has said it is done, a backup is never shown as complete: the sources may
# have grown since the previous archive.
RUNNING_CAP = 99.0
# The statuses whose archives give a total: a warning (a file that vanished) still made one.
BASELINE_STATUSES = (Status.SUCCESS, Status.WARNING)


@dataclass(frozen=True)
class Baseline:
    """The previous archive of the same plan and repository."""

    nfiles: int | None
    original_size: int | None

    @property
    def known(self) -> bool:
        return bool(self.original_size) or bool(self.nfiles)


NO_BASELINE = Baseline(None, None)


@dataclass(frozen=True)
class Estimate:
    files: int
    bytes: int
    current_file: str
    elapsed: timedelta | None  # since borg create started
    rate: float | None  # bytes per second
    percent: float | None  # None without a previous archive
    time_left: timedelta | None
    finished: bool

    def as_dict(self) -> dict:
        return {
            "files": self.files,
            "bytes": self.bytes,
            "current_file": self.current_file,
            "elapsed_seconds": _seconds(self.elapsed),
            "rate": self.rate,
            "percent": None if self.percent is None else round(self.percent, 1),
            "time_left_seconds": _seconds(self.time_left),
            "finished": self.finished,
            "text": self.text(),
        }

    def text(self) -> str:
        """One line for pages and terminals: 45 % — 1,234 files, 1.2 GB, 20.5 MB/s, 3 min left."""
        parts = [f"{self.files} files", human_size(self.bytes)]
        if self.rate:
            parts.append(f"{human_size(self.rate)}/s")
        if self.elapsed is not None:
            parts.append(f"{human_duration(self.elapsed)} elapsed")
        if not self.finished and self.percent is not None:
            left = self.time_left
            parts.append(f"{human_duration(left)} left" if left is not None else "time left unknown")
        line = ", ".join(parts)
        return f"{self.percent:.0f} % — {line}" if self.percent is not None else line


def _seconds(value: timedelta | None) -> int | None:
    return None if value is None else int(value.total_seconds())


def estimate(
    files: int,
    size: int,
    started: datetime | None,
    updated: datetime | None,
    baseline: Baseline,
    now: datetime,
    current_file: str = "",
    finished: bool = False,
) -> Estimate:
    """The estimate for a job that has read FILES files and SIZE bytes since STARTED (the
    last progress save at UPDATED), against the previous archive BASELINE."""
    elapsed = (now - started) if started else None
    measured = (updated - started).total_seconds() if started and updated else 0
    rate = size / measured if measured > 0 and size > 0 else None
    percent = _fraction(files, size, baseline)
    time_left = None
    if finished:
        percent = 100.0 if baseline.known else None
    elif percent is not None:
        if baseline.original_size and rate and size < baseline.original_size:
            time_left = timedelta(seconds=(baseline.original_size - size) / rate)
        percent = min(percent, RUNNING_CAP)
    return Estimate(files, size, current_file, elapsed, rate, percent, time_left, finished)


def _fraction(files: int, size: int, baseline: Baseline) -> float | None:
    """Bytes say more about the time it takes than files; files when the archive was empty."""
    if baseline.original_size:
        return 100.0 * size / baseline.original_size
    if baseline.nfiles:
        return 100.0 * files / baseline.nfiles
    return None


def with_baselines(jobs: QuerySet) -> QuerySet:
    """JOBS annotated with their previous archive's files and size (one query in all)."""
    previous = RepositoryJob.objects.filter(
        run__plan=OuterRef("run__plan"),
        repository=OuterRef("repository"),
        pk__lt=OuterRef("pk"),
        status__in=BASELINE_STATUSES,
        finished__isnull=False,
        original_size__isnull=False,
    ).order_by("-finished")
    return jobs.annotate(
        baseline_nfiles=Subquery(previous.values("nfiles")[:1]),
        baseline_size=Subquery(previous.values("original_size")[:1]),
    )


def runs_progress(runs: QuerySet, now: datetime | None = None) -> list[dict]:
    """RUNS and every job of theirs with its estimate, for the pages and their JSON views
    (two queries, whatever the number of runs and jobs)."""
    now = now or timezone.now()
    found = list(runs.select_related("plan"))
    jobs = with_baselines(RepositoryJob.objects.filter(run__in=[run.pk for run in found]).select_related("repository"))
    by_run: dict[int, list[dict]] = {run.pk: [] for run in found}
    for job in jobs.order_by("run_id", "order", "id"):
        by_run[job.run_id].append(job_progress(job, now))
    return [
        {
            "id": run.pk,
            "plan": run.plan.name,
            "status": run.status,
            "active": Status(run.status).is_active,
            "url": run.get_absolute_url(),
            "started": run.started.isoformat() if run.started else None,
            "jobs": by_run[run.pk],
        }
        for run in found
    ]


def payload(runs: list[dict]) -> dict:
    """The JSON the pages poll: live.js reloads the page when the set of active runs changes."""
    return {"runs": runs, "active": [run["id"] for run in runs if run["active"]]}


def job_estimate(job: RepositoryJob, now: datetime | None = None) -> Estimate:
    """The estimate of a job read through ``with_baselines`` (or of any job, without a total)."""
    baseline = Baseline(getattr(job, "baseline_nfiles", None), getattr(job, "baseline_size", None))
    finished = not Status(job.status).is_active
    return estimate(
        job.progress_files,
        job.progress_bytes,
        job.progress_started,
        job.progress_updated,
        baseline,
        # A finished job's elapsed time is the time it took, not its age.
        (job.finished if finished and job.finished else now) or timezone.now(),
        current_file="" if finished else job.progress_path,
        finished=finished,
    )


def job_progress(job: RepositoryJob, now: datetime | None = None) -> dict:
    """What the JSON views say of a job."""
    return {
        "id": job.pk,
        "repository": job.repository.name,
        "status": job.status,
        **job_estimate(job, now).as_dict(),
    }


def terminal_line(repository: str, estimate: Estimate) -> str:
    """run_backup's progress line."""
    current = f" — {estimate.current_file}" if estimate.current_file else ""
    return f"progress: {repository}: {estimate.text()}{current}"
