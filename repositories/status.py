"""Statuses of runs and jobs, and the rules of SPEC §3 that combine them (pure functions)."""

from collections.abc import Iterable

from django.db import models

# borg 1.4 reports specific warnings as 100–127; 1 is the classic warning.
_BORG_WARNING_CODES = {1, *range(100, 128)}


class Status(models.TextChoices):
    PENDING = "pending"
    WAITING = "waiting"
    RUNNING = "running"
    SUCCESS = "success"
    WARNING = "warning"
    FAILURE = "failure"
    SKIPPED = "skipped"

    @property
    def is_active(self) -> bool:
        return self in (Status.PENDING, Status.WAITING, Status.RUNNING)

    @property
    def backup_status(self) -> str:
        """What BORG_UI_BACKUP_STATUS carries: only success, failure or warning."""
        return Status.WARNING.value if self == Status.SKIPPED else self.value

    @classmethod
    def active_values(cls) -> list[str]:
        return [status.value for status in cls if status.is_active]


def status_from_borg_exit(exit_code: int | None) -> Status:
    """0 → success; 1 and 100–127 → warning; anything else, or a signal (None/negative) → failure."""
    if exit_code == 0:
        return Status.SUCCESS
    if exit_code in _BORG_WARNING_CODES:
        return Status.WARNING
    return Status.FAILURE


def at_least_warning(status: Status) -> Status:
    """A `continue` failure: a job that would have been success becomes warning."""
    return Status.WARNING if status == Status.SUCCESS else status


def overall_status(plan_pre_failed: bool, job_statuses: Iterable[Status]) -> Status:
    statuses = list(job_statuses)
    if plan_pre_failed or Status.FAILURE in statuses:
        return Status.FAILURE
    if statuses and all(status == Status.SKIPPED for status in statuses):
        return Status.SKIPPED
    if Status.WARNING in statuses or Status.SKIPPED in statuses:
        return Status.WARNING
    return Status.SUCCESS
