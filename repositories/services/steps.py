"""Hook points of a plan run (docs/running-plans.md#order), where the hook engine and the container stop plug in.

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
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from django.utils.module_loading import import_string

from common.db import reconnect_if_broken
from repositories.models import BackupPlan, PlanRun, Repository, RepositoryJob
from repositories.services.monitor import RunLog, RunMonitor
from repositories.status import ChainOutcome, Status, combine

logger = logging.getLogger(__name__)


@dataclass
class StepContext:
    """What a step may read of the run: the run, its log, the monitor that watches for a
    cancel (None in recovery), and the job whose repository steps are running (else None)."""

    run: PlanRun
    log: RunLog
    monitor: RunMonitor | None = None
    job: RepositoryJob | None = None
    recovering: bool = False
    # What the pipeline leaves for later steps (docs/archives.md): the archive each job's
    # `borg create --json` reported, by job id, with its repository's cache stats (borg's
    # "cache.stats": unique_csize…), and the repositories a prune changed.
    created_archives: dict[int, dict] = field(default_factory=dict)
    created_cache_stats: dict[int, dict] = field(default_factory=dict)
    pruned_repository_ids: set[int] = field(default_factory=set)
    # How many archives each repository's prune removed (docs/maintenance.md: compact after prune).
    pruned_archive_counts: dict[int, int] = field(default_factory=dict)

    @property
    def cancelled(self) -> bool:
        return self.monitor is not None and self.monitor.cancelled.is_set()


# --- what a plan will run, and what a run did (docs/running-plans.md, "What will run", "Reading a run") ---


class Phase(enum.IntEnum):
    """Where a step sits in the order of a run (docs/running-plans.md#order)."""

    LEASES = 0
    PLAN_PRE = 1
    REPOSITORY_PRE = 2
    CREATE = 3
    PRUNE = 4
    REPOSITORY_POST = 5
    PLAN_POST = 6
    AFTER_RUN = 7

    @property
    def per_repository(self) -> bool:
        return Phase.REPOSITORY_PRE <= self <= Phase.REPOSITORY_POST


@dataclass
class Step:
    """One step of a plan preview or of a run's timeline, as the pages show it. Every app
    describes its own steps; the pages only lay them out."""

    phase: Phase
    kind: str  # hook, containers, borg create, prune, leases…
    title: str
    repository_index: int = 0  # per-repository phases: the repository's place in the plan
    facts: list[tuple[str, str]] = field(default_factory=list)  # (label, value), shown as a table
    command: str = ""  # a command line, without secrets
    environment: dict[str, str] = field(default_factory=dict)  # secrets masked
    problems: list[str] = field(default_factory=list)  # what would stop the run (preview)
    notes: list[str] = field(default_factory=list)
    # a run's timeline
    status: str = ""
    started: datetime | None = None
    duration: timedelta | float | None = None
    outputs: list[tuple[str, str]] = field(default_factory=list)  # (label, text), collapsible
    links: list[tuple[str, str]] = field(default_factory=list)  # (label, url)
    job_id: int | None = None
    order: int = 0  # the registrant's order: the container stop after the hook chains
    seq: int = 0

    def sort_key(self) -> tuple:
        if self.phase.per_repository:
            return (Phase.REPOSITORY_PRE, self.repository_index, self.phase, self.order, self.seq)
        return (self.phase, 0, 0, self.order, self.seq)


@dataclass
class _Steps:
    steps: list[Step] = field(default_factory=list)
    order: int = 0

    def add(self, step: Step) -> Step:
        step.order, step.seq = self.order, len(self.steps)
        self.steps.append(step)
        return step

    def ordered(self) -> list[Step]:
        return sorted(self.steps, key=Step.sort_key)


@dataclass
class PlanPreview(_Steps):
    """What a run of PLAN would do now, built without running anything."""

    plan: BackupPlan | None = None
    repositories: list[Repository] = field(default_factory=list)

    def index_of(self, repository: Repository) -> int:
        return next(i for i, r in enumerate(self.repositories) if r.pk == repository.pk)

    @property
    def problems(self) -> list[str]:
        return [problem for step in self.ordered() for problem in step.problems]


@dataclass
class RunTimeline(_Steps):
    """Every step a run made, from the records the apps keep of them."""

    run: PlanRun | None = None
    jobs: list[RepositoryJob] = field(default_factory=list)
    job_links: dict[int, list[tuple[str, str]]] = field(default_factory=dict)

    def index_of_job(self, job_id: int | None) -> int:
        return next((i for i, job in enumerate(self.jobs) if job.pk == job_id), 0)

    def link(self, job_id: int, label: str, url: str) -> None:
        self.job_links.setdefault(job_id, []).append((label, url))


class RunSteps(Protocol):
    def plan_pre(self, ctx: StepContext) -> ChainOutcome: ...

    def repository_pre(self, ctx: StepContext, job: RepositoryJob) -> ChainOutcome: ...

    def repository_post(self, ctx: StepContext, job: RepositoryJob, status: Status) -> Status: ...

    def plan_post(self, ctx: StepContext, status: Status) -> Status: ...

    def after_run(self, ctx: StepContext) -> None: ...

    def after_leases(self, ctx: StepContext) -> None: ...

    def run_finished(self, ctx: StepContext, status: Status) -> None: ...

    def preview(self, preview: PlanPreview) -> None: ...

    def timeline(self, timeline: RunTimeline) -> None: ...


class PartialSteps:
    """Base for a registrant that implements only some steps: the others change nothing."""

    def plan_pre(self, ctx: StepContext) -> ChainOutcome:
        return ChainOutcome.OK

    def repository_pre(self, ctx: StepContext, job: RepositoryJob) -> ChainOutcome:
        return ChainOutcome.OK

    def repository_post(self, ctx: StepContext, job: RepositoryJob, status: Status) -> Status:
        return status

    def plan_post(self, ctx: StepContext, status: Status) -> Status:
        return status

    def after_run(self, ctx: StepContext) -> None:
        return None

    def after_leases(self, ctx: StepContext) -> None:
        """After the run gave its leases back: work that takes leases of its own."""
        return None

    def run_finished(self, ctx: StepContext, status: Status) -> None:
        return None

    def preview(self, preview: PlanPreview) -> None:
        """Add the steps this registrant would run for ``preview.plan`` (nothing runs)."""
        return None

    def timeline(self, timeline: RunTimeline) -> None:
        """Add the steps this registrant ran in ``timeline.run``, from its records."""
        return None


_registered_paths: list[str] = []
_instances: dict[str, RunSteps] = {}


def register(path: str) -> None:
    """Register the RunSteps class at dotted PATH (once, however often ``ready`` runs)."""
    if path not in _registered_paths:
        _registered_paths.append(path)


_periodic_paths: list[str] = []


def register_periodic(path: str) -> None:
    """Register the function at dotted PATH to run in the worker's minute recovery task."""
    if path not in _periodic_paths:
        _periodic_paths.append(path)


def run_periodic() -> None:
    """Each registered periodic function, in registration order; one that raises is logged."""
    for path in _periodic_paths:
        try:
            import_string(path)()
        except Exception:
            logger.exception("periodic task %s failed", path)


def registered() -> list[RunSteps]:
    for path in _registered_paths:
        if path not in _instances:
            _instances[path] = import_string(path)()
    instances = [_instances[path] for path in _registered_paths]
    return sorted(instances, key=lambda registrant: getattr(registrant, "order", 0))


# --- the one step loop --------------------------------------------------------------------

Value = TypeVar("Value", ChainOutcome, Status, None)


def _each(
    ctx: StepContext,
    name: str,
    call: Callable[[RunSteps, Value], Value],
    value: Value,
    on_error: Value,
    fold: Callable[[Value, Value], Value] = lambda _old, new: new,
    stops: Callable[[Value], bool] = lambda _value: False,
) -> Value:
    """Call every registrant in order, threading VALUE through; a registrant that raises
    is logged and counts as ON_ERROR, and the others still run (cleanup never stops half
    way) unless STOPS says the value ends the step."""
    where = f"{ctx.job.repository.name}: " if ctx.job is not None else ""
    for registrant in registered():
        reconnect_if_broken()  # a step that lost the database leaves the next one a new connection
        try:
            value = fold(value, call(registrant, value))
        except Exception as e:
            logger.exception("%s step failed", name)
            ctx.log(f"{where}{name} step error: {e}")
            value = fold(value, on_error)
        if stops(value):
            break
    return value


def plan_pre(ctx: StepContext) -> ChainOutcome:
    return _each(
        ctx, "plan pre", lambda r, _: r.plan_pre(ctx), ChainOutcome.OK, ChainOutcome.FAILED, combine,
        lambda outcome: outcome.stops_backup,
    )  # fmt: skip


def repository_pre(ctx: StepContext) -> ChainOutcome:
    return _each(
        ctx, "pre", lambda r, _: r.repository_pre(ctx, ctx.job), ChainOutcome.OK, ChainOutcome.FAILED, combine,
        lambda outcome: outcome.stops_backup,
    )  # fmt: skip


def repository_post(ctx: StepContext, status: Status) -> Status:
    return _each(ctx, "post", lambda r, s: r.repository_post(ctx, ctx.job, s), status, Status.FAILURE)


def plan_post(ctx: StepContext, status: Status) -> Status:
    return _each(ctx, "plan post", lambda r, s: r.plan_post(ctx, s), status, Status.FAILURE)


def after_run(ctx: StepContext) -> None:
    _each(ctx, "after-run", lambda r, _: r.after_run(ctx), None, None)


def after_leases(ctx: StepContext) -> None:
    _each(ctx, "after-leases", lambda r, _: r.after_leases(ctx), None, None)


def run_finished(ctx: StepContext, status: Status) -> None:
    """Once the run's final status is saved: what registrants do then (notifications, pings)
    can neither change nor delay it."""
    _each(ctx, "run-finished", lambda r, _: r.run_finished(ctx, status), None, None)


def _describe(kind: str, call: Callable[[RunSteps], None], into: _Steps) -> None:
    """Every registrant adds its steps; one that raises is logged and said on the page."""
    for registrant in registered():
        into.order = getattr(registrant, "order", 0)
        try:
            call(registrant)
        except Exception as e:
            logger.exception("%s of %s failed", kind, type(registrant).__name__)
            into.add(Step(Phase.LEASES, "error", f"{type(registrant).__name__}: {kind} failed: {e}"))
    into.order = 0


def preview(into: PlanPreview) -> None:
    _describe("preview", lambda r: r.preview(into), into)


def timeline(into: RunTimeline) -> None:
    _describe("timeline", lambda r: r.timeline(into), into)
