"""Hook points of a plan run (SPEC §3), where the hook engine and the container stop plug in.

The pipeline knows the order of steps; what happens at each step is registered here by
the apps that own it (``hooks`` for script chains, the Docker stop for containers), in
their ``AppConfig.ready``, by dotted path: the classes are imported when a run first asks
for them, so commands that run no backup never load the hook engine or the Docker SDK.

Within a step, registrants run by their ``order`` attribute (default 0), then in
registration order: the container stop (order 100) comes after the hook chains whatever the
order of INSTALLED_APPS.
"""

import enum
import logging
from dataclasses import dataclass, field
from typing import Protocol

from django.utils.module_loading import import_string

from repositories.status import Status


class ChainOutcome(enum.Enum):
    OK = "ok"
    WARNING = "warning"  # a `continue` failure: logged, the chain went on
    FAILED = "failed"  # a `fail` failure: the guarded backup is not made
    SKIPPED = "skipped"  # a `skip`: the guarded backup is not made, not an error

    @property
    def stops_backup(self) -> bool:
        return self in (ChainOutcome.FAILED, ChainOutcome.SKIPPED)

    def apply_to(self, status: Status) -> Status:
        """The status a pre chain leaves for the backup it guards (SPEC §3)."""
        if self == ChainOutcome.FAILED:
            return Status.FAILURE
        if self == ChainOutcome.SKIPPED:
            return Status.SKIPPED
        if self == ChainOutcome.WARNING and status == Status.SUCCESS:
            return Status.WARNING
        return status


@dataclass
class StepContext:
    """What a step may read of the run; ``log`` writes a line to the run's log."""

    run: object
    log: object
    recovering: bool = False
    notes: dict = field(default_factory=dict)


class RunSteps(Protocol):
    def plan_pre(self, ctx: StepContext) -> ChainOutcome: ...

    def repository_pre(self, ctx: StepContext, job) -> ChainOutcome: ...

    def repository_post(self, ctx: StepContext, job, status: Status) -> Status: ...

    def plan_post(self, ctx: StepContext, status: Status) -> Status: ...

    def after_run(self, ctx: StepContext) -> None: ...

    def after_leases(self, ctx: StepContext) -> None: ...

    def run_finished(self, ctx: StepContext, status: Status) -> None: ...


class NoSteps:
    """Base for a registrant that implements only some steps."""

    def plan_pre(self, ctx):
        return ChainOutcome.OK

    def repository_pre(self, ctx, job):
        return ChainOutcome.OK

    def repository_post(self, ctx, job, status):
        return status

    def plan_post(self, ctx, status):
        return status

    def after_run(self, ctx):
        return None

    def after_leases(self, ctx):
        """After the run gave its leases back: work that takes leases of its own."""
        return None

    def run_finished(self, ctx, status):
        return None


_registered_paths: list[str] = []
_instances: dict[str, RunSteps] = {}


def register(path: str) -> None:
    """Register the RunSteps class at dotted PATH (once, however often ``ready`` runs)."""
    if path not in _registered_paths:
        _registered_paths.append(path)


def registered() -> list[RunSteps]:
    for path in _registered_paths:
        if path not in _instances:
            _instances[path] = import_string(path)()
    instances = [_instances[path] for path in _registered_paths]
    return sorted(instances, key=lambda registrant: getattr(registrant, "order", 0))


def announce_finished(ctx: StepContext, status: Status) -> None:
    """Tell the registrants a run's final status, once it is saved: what they do then
    (notifications, pings) can neither change nor delay it, and their errors are only logged."""
    for registrant in registered():
        try:
            registrant.run_finished(ctx, status)
        except Exception:
            logging.getLogger(__name__).exception("run-finished step failed")


def combine(outcomes_so_far: ChainOutcome, outcome: ChainOutcome) -> ChainOutcome:
    order = [ChainOutcome.OK, ChainOutcome.WARNING, ChainOutcome.SKIPPED, ChainOutcome.FAILED]
    return max(outcomes_so_far, outcome, key=order.index)
