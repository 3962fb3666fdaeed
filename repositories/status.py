"""Statuses of runs and jobs, and the rules of docs/running-plans.md#statuses that combine them (pure functions)."""

import enum
from collections.abc import Iterable

from django.db import models

# borg 1.4 reports specific warnings as 100–127; 1 is the classic warning.
_BORG_WARNING_CODES = {1, *range(100, 128)}


class HookType(models.TextChoices):
    PRE_BACKUP = "pre-backup", "pre-backup"
    POST_BACKUP = "post-backup", "post-backup"


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
    def exit_code(self) -> int:
        """run_backup's exit code for a finished run (docs/commands.md)."""
        return {Status.SUCCESS: 0, Status.SKIPPED: 0, Status.WARNING: 1}.get(self, 2)

    @property
    def colour(self) -> str:
        """The colour of its badge in the admin."""
        return {
            Status.SUCCESS: "#2e7d32", Status.WARNING: "#b26a00", Status.FAILURE: "#c62828",
            Status.RUNNING: "#1565c0", Status.WAITING: "#6a1b9a",
        }.get(self, "#616161")  # fmt: skip

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


def overall_status(plan_pre: "ChainOutcome", job_statuses: Iterable[Status]) -> Status:
    """A run's status from its plan pre chain and its jobs' statuses."""
    statuses = list(job_statuses)
    if Status.FAILURE in statuses:
        status = Status.FAILURE
    elif statuses and all(status == Status.SKIPPED for status in statuses):
        status = Status.SKIPPED
    elif Status.WARNING in statuses or Status.SKIPPED in statuses:
        status = Status.WARNING
    else:
        status = Status.SUCCESS
    return plan_pre.apply_to(status)


class ChainOutcome(enum.Enum):
    OK = "ok"
    WARNING = "warning"  # a `continue` failure: logged, the chain went on
    FAILED = "failed"  # a `fail` failure: the guarded backup is not made
    SKIPPED = "skipped"  # a `skip`: the guarded backup is not made, not an error

    @property
    def stops_backup(self) -> bool:
        return self in (ChainOutcome.FAILED, ChainOutcome.SKIPPED)

    def apply_to(self, status: Status) -> Status:
        """The status a pre chain leaves for the backup it guards (docs/running-plans.md)."""
        if self == ChainOutcome.FAILED:
            return Status.FAILURE
        if self == ChainOutcome.SKIPPED:
            return Status.SKIPPED
        if self == ChainOutcome.WARNING and status == Status.SUCCESS:
            return Status.WARNING
        return status


def combine(outcomes_so_far: ChainOutcome, outcome: ChainOutcome) -> ChainOutcome:
    order = [ChainOutcome.OK, ChainOutcome.WARNING, ChainOutcome.SKIPPED, ChainOutcome.FAILED]
    return max(outcomes_so_far, outcome, key=order.index)
