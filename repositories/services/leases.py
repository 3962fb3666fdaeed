"""Repository leases (docs/archives.md, "Locks"): two backups never write one repository
at the same time, and nothing borgui starts fails on borg's own lock because of other
borgui work.

Every taker locks the repository's RepositoryLease row first (select_for_update: a row
lock on PostgreSQL, the IMMEDIATE write transaction on SQLite), so deciding and taking is
one step for every process on every machine. A run holds the row itself (``run``); other
holders (restores, downloads, refreshes, commands) have RepositoryHold rows with a
heartbeat. Writers (runs and WRITE holds) are exclusive; readers share; a waiting writer
blocks new readers; INFO readers are also one per repository and machine.
"""

import socket
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from repositories.models import LeaseMode, PlanRun, Repository, RepositoryHold, RepositoryLease
from repositories.status import Status


class RepositoryBusy(Exception):
    """The repository could not be had (in time); the message says what holds it."""


def _locked_lease(repository: Repository) -> RepositoryLease:
    RepositoryLease.objects.get_or_create(repository=repository)
    return RepositoryLease.objects.select_for_update(of=("self",)).select_related("run").get(repository=repository)


def _live_holds(repository: Repository):
    """Holds of live processes; those of dead ones (stale heartbeat) are removed."""
    cutoff = timezone.now() - timedelta(seconds=settings.BORGUI_STALE_AFTER_SECONDS)
    RepositoryHold.objects.filter(repository=repository, heartbeat__lt=cutoff).delete()
    return RepositoryHold.objects.filter(repository=repository)


def _run_active(lease: RepositoryLease, run: PlanRun | None = None) -> bool:
    return lease.run is not None and lease.run != run and Status(lease.run.status).is_active


def try_take(run: PlanRun, repository: Repository) -> bool:
    with transaction.atomic():
        lease = _locked_lease(repository)
        if _run_active(lease, run) or _live_holds(repository).filter(held=True).exists():
            return False
        lease.run, lease.taken = run, timezone.now()
        lease.save(update_fields=["run", "taken"])
        return True


def holder(repository: Repository) -> PlanRun | None:
    lease = RepositoryLease.objects.filter(repository=repository).select_related("run__plan").first()
    if lease and lease.run and Status(lease.run.status).is_active:
        return lease.run
    return None


def busy_reason(repository: Repository, mode: LeaseMode = LeaseMode.READ) -> str:
    """What keeps a holder of MODE out now, for a message ("" when nothing does)."""
    run = holder(repository)
    if run is not None:
        since = timezone.localtime(run.started or run.created).strftime("%H:%M")
        return f"repository busy: plan {run.plan.name} running since {since}"
    holds = _live_holds(repository).exclude(held=False, mode__in=[LeaseMode.READ, LeaseMode.INFO])
    if not mode.exclusive:
        holds = holds.filter(mode=LeaseMode.WRITE)
    first = holds.order_by("created").first()
    if first is None:
        return ""
    since = timezone.localtime(first.created).strftime("%H:%M")
    return f"repository busy: {first.description} {'running' if first.held else 'waiting'} since {since}"


def _try_hold(hold: RepositoryHold) -> bool:
    with transaction.atomic():
        lease = _locked_lease(hold.repository)
        others = _live_holds(hold.repository).exclude(pk=hold.pk)
        if _run_active(lease):
            return False
        if LeaseMode(hold.mode).exclusive:
            blocked = others.filter(held=True).exists()
        else:
            # A waiting writer (a hold, or a run waiting for this repository) blocks new readers.
            same_machine_info = others.filter(held=True, mode=LeaseMode.INFO, host=hold.host)
            blocked = others.filter(mode=LeaseMode.WRITE).exists() or (
                hold.mode == LeaseMode.INFO and same_machine_info.exists()
            )
        if blocked:
            return False
        RepositoryHold.objects.filter(pk=hold.pk).update(held=True, heartbeat=timezone.now())
        hold.held = True
        return True


class _Heartbeat(threading.Thread):
    """Keeps a hold's heartbeat fresh while its holder works (its own database connection)."""

    def __init__(self, hold_pk: int):
        super().__init__(daemon=True)
        self.hold_pk = hold_pk
        self.stopped = threading.Event()

    def run(self):
        try:
            while not self.stopped.wait(settings.BORGUI_HEARTBEAT_SECONDS):
                RepositoryHold.objects.filter(pk=self.hold_pk).update(heartbeat=timezone.now())
        finally:
            connection.close()


@contextmanager
def hold(
    repository: Repository,
    mode: LeaseMode,
    description: str,
    wait_seconds: float | None = None,
    cancelled: Callable[[], bool] = lambda: False,
    on_wait: Callable[[str], None] | None = None,
    poll: float = 0.5,
):
    """Hold REPOSITORY for MODE while the block runs; RepositoryBusy when it cannot be had
    within WAIT_SECONDS (0: only if free now; None: BORGUI_LEASE_WAIT_SECONDS)."""
    mode = LeaseMode(mode)
    wait = settings.BORGUI_LEASE_WAIT_SECONDS if wait_seconds is None else wait_seconds
    row = RepositoryHold.objects.create(
        repository=repository, mode=mode, description=description[:300], host=socket.gethostname()
    )
    beat = _Heartbeat(row.pk)
    beat.start()
    try:
        deadline = time.monotonic() + wait
        announced = False
        while not _try_hold(row):
            reason = busy_reason(repository, mode) or "repository busy"
            if time.monotonic() >= deadline or cancelled():
                raise RepositoryBusy(reason)
            if not announced and on_wait is not None:
                on_wait(f"waiting: {reason}")
            announced = True
            time.sleep(poll)
        yield row
    finally:
        beat.stopped.set()
        beat.join()
        RepositoryHold.objects.filter(pk=row.pk).delete()


def _announce_waiting_run(run: PlanRun, repository: Repository, waiting: RepositoryHold | None) -> RepositoryHold:
    """A run waiting for a repository blocks new readers like a waiting writer hold."""
    if waiting is None:
        return RepositoryHold.objects.create(
            repository=repository, mode=LeaseMode.WRITE, description=f"plan {run.plan.name} run {run.pk}",
            host=socket.gethostname(),
        )  # fmt: skip
    RepositoryHold.objects.filter(pk=waiting.pk).update(heartbeat=timezone.now())
    return waiting


def take_all(
    run: PlanRun,
    repositories: list[Repository],
    wait_seconds: float,
    on_wait: Callable[[Repository, PlanRun | None], None],
    cancelled: Callable[[], bool] = lambda: False,
    poll: float = 0.5,
    while_waiting: Callable[[Repository], object] = lambda repository: None,
) -> Repository | None:
    """Take every lease in id order; return the repository that could not be had in time.
    WHILE_WAITING(repository) is called at every poll (the pipeline recovers a dead holder)."""
    deadline = time.monotonic() + wait_seconds
    for repository in sorted(repositories, key=lambda r: r.pk):
        announced, waiting = False, None
        try:
            while not try_take(run, repository):
                if not announced:
                    on_wait(repository, holder(repository))
                    announced = True
                if time.monotonic() >= deadline or cancelled():
                    return repository
                while_waiting(repository)
                waiting = _announce_waiting_run(run, repository, waiting)
                time.sleep(poll)
        finally:
            if waiting is not None:
                RepositoryHold.objects.filter(pk=waiting.pk).delete()
    return None


def release_all(run: PlanRun) -> None:
    RepositoryLease.objects.filter(run=run).update(run=None, taken=None)
