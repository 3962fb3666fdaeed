"""The plan's built-in container stop (docs/docker-hooks.md#built-in-container-stop), as run steps.

``plan_pre`` runs after the plan's pre-backup hooks (``order`` 100, the hook engine is 0),
so a dump hook can still reach the database, and before the first repository's hooks. It
goes through the plan's ``stop_containers`` in order — a name, or ``label:KEY=VALUE`` for
every container with that label, by name — and for each container that is running:
records it (a ``ContainerStop`` row), then stops it with a per-container timeout, before
moving on. A container that is not running is left as it is and not recorded.

``after_run`` runs whatever happened before it — success, failure, cancel, and in
``recover_runs`` after the worker died — and starts exactly the recorded containers again,
in reverse order (what was stopped last comes back first), marking each one started. A
start that fails is tried again a few times within the run, then every minute by the
worker's recovery task (``retry_failed_starts``) for about an hour.

Docker that cannot be reached, or that refuses a stop, fails the plan's pre step with one
readable line in the run's log (the backup is not made); the post steps still run and
whatever was stopped is started again.
"""

import time
from contextlib import contextmanager
from itertools import groupby

from django.conf import settings
from django.db import connection
from django.utils import timezone

from common.docker_client import LIST, PROXY_VARIABLES, START, STOP, Docker, DockerError, enable_text, selector_label
from repositories.models import ContainerStop, PlanRun
from repositories.services.monitor import RunLog
from repositories.services.remote_docker import connect_docker
from repositories.services.steps import PartialSteps, Phase, PlanPreview, RunTimeline, Step, StepContext
from repositories.status import ChainOutcome, Status

DEFAULT_STOP_TIMEOUT = 60


def stop_timeout() -> int:
    """Seconds each container gets to stop (SIGTERM) before Docker kills it."""
    return int(getattr(settings, "BORGUI_CONTAINER_STOP_TIMEOUT", DEFAULT_STOP_TIMEOUT))


def _explained(error: DockerError, section: str) -> str:
    """The error, and on a socket proxy's 403 the setting that section needs."""
    if error.denied:
        return f"{error}: enable {enable_text(PROXY_VARIABLES[section])} on the proxy"
    return str(error)


def _explained_probe(probe, section: str) -> str:
    if probe.denied:
        return f"{probe.detail}: enable {enable_text(PROXY_VARIABLES[section])} on the proxy"
    return probe.detail


def _clock() -> str:
    return timezone.localtime().strftime("%H:%M:%S")


@contextmanager
def synced_commits():
    """Commits inside reach the disk before they return.

    docs/docker-hooks.md ("Built-in container stop"): the record of a stopped container is
    synced even though other writes are not (SQLite's synchronous=NORMAL, PostgreSQL's
    synchronous_commit=off, both set in borgui/settings.py), so a power cut cannot lose it.
    SQLite refuses to change its level inside a transaction: the run records stops in
    autocommit, where FULL syncs the WAL at the commit.
    """
    if connection.vendor == "sqlite" and not connection.in_atomic_block:
        show, set_to = "PRAGMA synchronous", "PRAGMA synchronous={}"
        synced = "FULL"
    elif connection.vendor == "postgresql":
        show, set_to = "SHOW synchronous_commit", "SET synchronous_commit = {}"
        synced = "on"
    else:
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute(show)
        previous = cursor.fetchone()[0]
        cursor.execute(set_to.format(synced))
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(set_to.format(previous))


class ContainerStopSteps(PartialSteps):
    order = 100  # after the hook chains of the same step (docs/running-plans.md#order step 1)

    # --- stop, before the repositories -------------------------------------------------------

    def plan_pre(self, ctx: StepContext) -> ChainOutcome:
        selectors = list(ctx.run.plan.stop_containers or [])
        if not selectors:
            return ChainOutcome.OK
        log = ctx.log
        log(f"container stop: {', '.join(selectors)}")
        try:
            docker = connect_docker(ctx.run.plan)  # the source host's, for remote sources
        except DockerError as e:
            log(f"container stop failed: {e}; the backup is not made")
            return ChainOutcome.FAILED
        with docker:
            return self._stop_all(ctx, docker, selectors)

    def _stop_all(self, ctx: StepContext, docker: Docker, selectors: list[str]) -> ChainOutcome:
        log, outcome, seen, timeout = ctx.log, ChainOutcome.OK, set(), stop_timeout()
        for selector in selectors:
            try:
                containers = self._select(docker, selector)
            except DockerError as e:
                log(f"container stop failed: {selector}: {_explained(e, LIST)}; the backup is not made")
                return ChainOutcome.FAILED
            if not containers:
                if selector_label(selector) is None:
                    log(f"container stop: no container named {selector}: nothing to stop")
                    outcome = ChainOutcome.WARNING
                else:
                    log(f"container stop: no container has {selector}")
            for container in containers:
                if container.id in seen:
                    continue
                seen.add(container.id)
                if not container.running:
                    log(f"container stop: {container.name} is not running: left stopped")
                    continue
                if ctx.cancelled:
                    log("container stop: cancelled")
                    return outcome
                if not self._stop_one(ctx, docker, selector, container, timeout):
                    return ChainOutcome.FAILED
        return outcome

    @staticmethod
    def _select(docker: Docker, selector: str):
        label = selector_label(selector)
        if label is not None:
            return docker.with_label(label)
        container = docker.container(selector)
        return [container] if container is not None else []

    @staticmethod
    def _stop_one(ctx: StepContext, docker: Docker, selector: str, container, timeout: int) -> bool:
        # Recorded (and synced) before the request: a worker that dies during the stop, or a
        # power cut, still leaves the record its recovery starts the container from.
        with synced_commits():
            record = ContainerStop.objects.create(
                run=ctx.run, selector=selector, container_id=container.id, name=container.name
            )
        began = time.monotonic()
        try:
            docker.stop(container.id, timeout)
        except DockerError as e:
            record.stop_error = _explained(e, STOP)[:500]
            record.save(update_fields=["stop_error"])
            ctx.log(
                f"container stop failed: could not stop {container.name}: {record.stop_error}; the backup is not made"
            )
            return False
        record.stopped_at = timezone.now()
        record.save(update_fields=["stopped_at"])
        ctx.log(
            f"container stop: stopped {container.name} ({container.id[:12]}) at {_clock()} "
            f"in {time.monotonic() - began:.1f}s"
        )
        return True

    # --- what it will do, what it did ------------------------------------------------------

    def preview(self, preview: PlanPreview) -> None:
        selectors = list(preview.plan.stop_containers or [])
        if not selectors:
            return
        step = preview.add(Step(Phase.PLAN_PRE, "containers", "Stop containers (built-in)"))
        step.facts.append(("stop_containers", ", ".join(selectors)))
        step.facts.append(("timeout per container", f"{stop_timeout()} s, then Docker kills it"))
        try:
            docker = connect_docker(preview.plan)
        except DockerError as e:
            step.notes.append("Docker is unreachable: the containers cannot be resolved now.")
            step.problems.append(f"container stop: {e}")
            return
        with docker:
            self._resolve_now(docker, selectors, step)
            probes = docker.probe_sections()
        for section in (LIST, STOP, START):
            probe = probes.get(section)
            if probe is not None and not probe.allowed:
                step.problems.append(f"container stop: Docker {section}: {_explained_probe(probe, section)}")
        preview.add(
            Step(Phase.AFTER_RUN, "containers", "Start the stopped containers again (always, in reverse order)")
        )

    def _resolve_now(self, docker: Docker, selectors: list[str], step: Step) -> None:
        for selector in selectors:
            try:
                containers = self._select(docker, selector)
            except DockerError as e:
                step.problems.append(f"container stop: {selector}: {_explained(e, LIST)}")
                continue
            if not containers:
                missing = "no container by that name" if selector_label(selector) is None else "no container has it"
                step.facts.append((selector, f"{missing} now"))
            for container in containers:
                state = "running: will be stopped" if container.running else "not running: left as it is"
                step.facts.append((selector, f"{container.name} ({container.id[:12]}), {state}"))

    def timeline(self, timeline: RunTimeline) -> None:
        records = list(timeline.run.container_stops.order_by("id"))
        for record in records:
            timeline.add(Step(
                Phase.PLAN_PRE, "containers", f"stop {record.name}", started=record.recorded_at,
                duration=record.stopped_at - record.recorded_at if record.stopped_at else None,
                status=Status.FAILURE if record.stop_error else (Status.SUCCESS if record.stopped_at else ""),
                facts=[("chosen by", record.selector), ("container", record.container_id[:12])],
                notes=[record.stop_error] if record.stop_error else [],
            ))  # fmt: skip
        for record in reversed(records):
            failed = record.start_error and record.started_at is None
            timeline.add(Step(
                Phase.AFTER_RUN, "containers", f"start {record.name} again", started=record.started_at,
                status=Status.FAILURE if failed else (Status.SUCCESS if record.started_at else ""),
                notes=[f"{record.start_error} (tries: {record.start_attempts})"] if failed else [],
            ))  # fmt: skip

    # --- start again, always ------------------------------------------------------------------

    def after_run(self, ctx: StepContext) -> None:
        pending = [record for record in ctx.run.container_stops.order_by("-id") if record.pending_start]
        if not pending:
            return
        log = ctx.log
        if ctx.recovering:
            log(f"container start: {len(pending)} container(s) this run stopped: {', '.join(r.name for r in pending)}")
        for delay in (0, *START_RETRY_DELAYS):
            if delay:
                log(f"container start: trying again in {delay}s")
                time.sleep(delay)
            pending = start_again(log, pending)
            if not pending:
                return
        names = " ".join(record.name for record in pending)
        log(f"container start: still stopped: {names}; the worker tries again every minute for an hour")


# A daemon or proxy that restarts takes seconds: a few tries within the run, then the
# worker's minute task goes on (retry_failed_starts).
START_RETRY_DELAYS = (2, 5)


def start_again(log, records: list[ContainerStop]) -> list[ContainerStop]:
    """Start RECORDS' containers again (in the order given); return those still stopped."""
    try:
        docker = connect_docker(records[0].run.plan)  # the Docker that stopped them
    except DockerError as e:
        for record in records:
            _start_failed(record, str(e))
        log(f"container start failed: {e}")
        return [record for record in records if record.pending_start]
    with docker:
        return [record for record in records if not _start_one(log, docker, record) and record.pending_start]


def _start_one(log, docker: Docker, record: ContainerStop) -> bool:
    section = LIST
    try:
        container = docker.container(record.container_id) or docker.container(record.name)
        if container is None:
            _start_failed(record, f"{record.name} ({record.container_id[:12]}) no longer exists", final=True)
            log(f"container start failed: {record.start_error}")
            return False
        if container.running:
            note = "its stop did not happen" if record.stopped_at is None else "someone started it"
            log(f"container start: {container.name} is already running ({note})")
        else:
            section = START
            docker.start(container.id)
            replaced = "" if container.id == record.container_id else f", a new container {container.id[:12]}"
            log(f"container start: started {container.name}{replaced} again at {_clock()}")
    except DockerError as e:
        _start_failed(record, _explained(e, section))
        log(f"container start failed: {record.name}: {record.start_error}")
        return False
    record.started_at = timezone.now()
    record.save(update_fields=["started_at"])
    return True


def _start_failed(record: ContainerStop, error: str, final: bool = False) -> None:
    record.start_error = error[:500]
    record.start_attempts = ContainerStop.MAX_START_ATTEMPTS if final else record.start_attempts + 1
    record.save(update_fields=["start_error", "start_attempts"])


def retry_failed_starts() -> int:
    """Containers that finished runs could not start again: one more try each (the worker's
    minute task). Returns how many are running again; their runs' logs say so."""
    waiting = (
        ContainerStop.objects.filter(started_at__isnull=True, start_attempts__gt=0)
        .filter(start_attempts__lt=ContainerStop.MAX_START_ATTEMPTS)
        .exclude(run__status__in=Status.active_values())
        .order_by("run", "-id")
    )
    started = 0
    # Two workers trying at once do no harm: the second finds the container running.
    for run_id, records in groupby(waiting, key=lambda record: record.run_id):
        records = list(records)
        log = RunLog(initial=PlanRun.objects.get(pk=run_id).log)
        log(f"container start: trying again ({', '.join(record.name for record in records)})")
        still_stopped = start_again(log, records)
        started += len(records) - len(still_stopped)
        for record in still_stopped:
            if not record.pending_start:
                log(f"container start: giving up on {record.name}; start it by hand: docker start {record.name}")
        PlanRun.objects.filter(pk=run_id).update(log=log.value())
    return started
