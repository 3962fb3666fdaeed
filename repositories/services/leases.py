"""Repository leases: two backups never write one repository at the same time (docs/running-plans.md#leases).

A lease is a row per repository; taking it is one conditional UPDATE, so it is atomic on
PostgreSQL and SQLite and holds across worker machines. A lease held by a run that is no
longer active (finished, or recovered after its worker died) is free.
"""

import time
from collections.abc import Callable

from django.db import transaction
from django.utils import timezone

from repositories.models import PlanRun, Repository, RepositoryLease
from repositories.status import Status


def try_take(run: PlanRun, repository: Repository) -> bool:
    RepositoryLease.objects.get_or_create(repository=repository)
    # The row lock (PostgreSQL) or the IMMEDIATE write transaction (SQLite) makes the
    # read-then-write below one step for every process on every machine.
    with transaction.atomic():
        lease = RepositoryLease.objects.select_for_update().get(repository=repository)
        if lease.run is not None and lease.run != run and Status(lease.run.status).is_active:
            return False
        lease.run, lease.taken = run, timezone.now()
        lease.save(update_fields=["run", "taken"])
        return True


def holder(repository: Repository) -> PlanRun | None:
    lease = RepositoryLease.objects.filter(repository=repository).select_related("run__plan").first()
    if lease and lease.run and Status(lease.run.status).is_active:
        return lease.run
    return None


def take_all(
    run: PlanRun,
    repositories: list[Repository],
    wait_seconds: float,
    on_wait: Callable[[Repository, PlanRun | None], None],
    cancelled: Callable[[], bool] = lambda: False,
    poll: float = 0.5,
) -> Repository | None:
    """Take every lease in id order; return the repository that could not be had in time."""
    deadline = time.monotonic() + wait_seconds
    for repository in sorted(repositories, key=lambda r: r.pk):
        announced = False
        while not try_take(run, repository):
            if not announced:
                on_wait(repository, holder(repository))
                announced = True
            if time.monotonic() >= deadline or cancelled():
                return repository
            time.sleep(poll)
    return None


def release_all(run: PlanRun) -> None:
    RepositoryLease.objects.filter(run=run).update(run=None, taken=None)
