"""The cached archive list of a repository (docs/archives.md, "Archive list").

Refreshed from `borg list --json` under a reader lease; archives with no stats get them
from `borg info --json` (stats_source "info"); an archive a backup made is recorded from
that backup's own `borg create --json` with no borg call at all.
"""

import re

from django.db import transaction
from django.utils import timezone

from archives.models import Archive, ArchiveListState, StatsSource
from archives.services import borgtime
from repositories import archive_names, borg
from repositories.models import BackupPlan, LeaseMode, Repository
from repositories.services import leases

LATEST = "latest"
_CHECKPOINT = re.compile(r"\.checkpoint(\.\d+)?\Z")
_STATS = ("nfiles", "original_size", "compressed_size", "deduplicated_size")


class ArchiveError(Exception):
    """One line for the user: an unknown archive, a borg failure, a busy repository."""


def is_checkpoint(name: str) -> bool:
    return bool(_CHECKPOINT.search(name))


def plan_for_name(repository: Repository, name: str) -> BackupPlan | None:
    """The plan whose fixed archive-name prefix is the longest match (archives borgui did
    not record itself: imported repositories, or made before borgui kept the list)."""
    best, best_length = None, 0
    for plan in BackupPlan.objects.filter(repositories=repository).order_by("id"):
        prefix = archive_names.fixed_prefix(plan.archive_name, plan.name, repository.name)
        if prefix and name.startswith(prefix) and len(prefix) > best_length:
            best, best_length = plan, len(prefix)
    return best


def record_created(repository: Repository, plan: BackupPlan, created: dict) -> Archive | None:
    """Add the archive a backup just made, from its `borg create --json` ("archive" key)."""
    name = created.get("name")
    if not name:
        return None
    stats = created.get("stats") or {}
    archive, _ = Archive.objects.update_or_create(
        repository=repository,
        name=name,
        defaults={
            "borg_id": created.get("id", ""),
            "start": borgtime.parse(created.get("start")),
            "end": borgtime.parse(created.get("end")),
            "plan": plan,
            "checkpoint": is_checkpoint(name),
            **{key: stats.get(key) for key in _STATS},
            "stats_source": StatsSource.CREATE if stats else "",
        },
    )
    return archive


def refresh(repository: Repository, holder: str = "archive list refresh", wait_seconds=None, on_wait=None) -> int:
    """Read the list from borg and make the cache equal to it; the number of archives.

    Archives gone from the repository are dropped with their indexes."""
    with leases.hold(repository, LeaseMode.READ, f"{holder} of {repository.name}", wait_seconds, on_wait=on_wait):
        result = borg.list_all_archives(repository)
    if not result.ok:
        _record_state(repository, error=result.error_line())
        raise ArchiveError(f"borg list failed: {result.error_line()}")
    listed = result.json().get("archives", [])
    with transaction.atomic():
        known = {archive.name: archive for archive in Archive.objects.filter(repository=repository)}
        names = set()
        for item in listed:
            names.add(item["name"])
            _merge(repository, known.get(item["name"]), item)
        gone = [archive.pk for name, archive in known.items() if name not in names]
        for archive in Archive.objects.filter(pk__in=gone):
            archive.delete()  # its index rows go in one statement (archives.signals)
    _record_state(repository)
    return len(listed)


def _merge(repository: Repository, archive: Archive | None, item: dict) -> None:
    borg_id = item.get("id", "")
    if archive is not None and archive.borg_id == borg_id:
        return
    if archive is not None:
        archive.delete()  # same name, another archive (deleted and made again)
    Archive.objects.create(
        repository=repository,
        name=item["name"],
        borg_id=borg_id,
        start=borgtime.parse(item.get("start") or item.get("time")),
        plan=plan_for_name(repository, item["name"]),
        checkpoint=is_checkpoint(item["name"]),
    )


def _record_state(repository: Repository, error: str = "") -> None:
    ArchiveListState.objects.update_or_create(
        repository=repository,
        defaults={"refreshed": timezone.now() if not error else None, "queued": None, "error": error[:500]},
    )


def fill_stats(repository: Repository, archives: list[Archive]) -> None:
    """Stats (and end time) from `borg info --json` for archives that have none yet."""
    missing = [archive for archive in archives if not archive.stats_source]
    for archive in missing:
        with leases.hold(repository, LeaseMode.INFO, f"archive info of {repository.name}"):
            result = borg.archive_info(repository, archive.name)
        if not result.ok:
            continue
        found = (result.json().get("archives") or [{}])[0]
        stats = found.get("stats") or {}
        for key in _STATS:
            setattr(archive, key, stats.get(key))
        archive.end = borgtime.parse(found.get("end")) or archive.end
        archive.stats_source = StatsSource.INFO
        archive.save(update_fields=[*_STATS, "end", "stats_source"])


def is_listed(repository: Repository) -> bool:
    return ArchiveListState.objects.filter(repository=repository, refreshed__isnull=False).exists()


def archives_of(repository: Repository):
    return Archive.objects.filter(repository=repository).select_related("plan").order_by("start", "id")


def latest(repository: Repository) -> Archive | None:
    return archives_of(repository).filter(checkpoint=False, start__isnull=False).order_by("-start", "-id").first()


def resolve(repository: Repository, name: str, fresh: bool = True, on_wait=None) -> Archive:
    """An archive by name, `latest` included, from a freshly read list (commands)."""
    if fresh or not is_listed(repository):
        refresh(repository, holder="command", on_wait=on_wait)
    archive = Archive.objects.filter(repository=repository, name=name).first()
    if archive is None and name == LATEST:
        archive = latest(repository)
    if archive is None:
        raise ArchiveError(f"repository {repository.name} has no archive {name!r}")
    return archive
