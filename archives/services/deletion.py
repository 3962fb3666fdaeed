"""Deleting archives (docs/archives.md, "Delete"): each name checked against a freshly read
list first (`borg delete REPO nosuch` exits 0), always `borg delete REPO::NAME…` (never
`borg delete REPO`, which deletes the whole repository), then the list and indexes follow.
Space is freed by the repository's compact."""

from django_q.tasks import async_task

from archives.services import catalog
from archives.services.catalog import ArchiveError
from repositories import borg
from repositories.models import LeaseMode, Repository
from repositories.services import leases


def delete(repository: Repository, names: list[str], dry_run: bool = False, holder: str = "delete") -> list[str]:
    """Delete NAMES (all of them or none); the names that were (or would be) deleted."""
    if not names:
        raise ArchiveError("name at least one archive to delete")
    with leases.hold(repository, LeaseMode.WRITE, f"{holder} in {repository.name}"):
        result = borg.list_all_archives(repository)
        if not result.ok:
            raise ArchiveError(f"borg list failed: {result.error_line()}")
        present = {archive["name"] for archive in result.json().get("archives", [])}
        unknown = [name for name in names if name not in present]
        if unknown:
            raise ArchiveError(f"repository {repository.name} has no archive {unknown[0]!r}: nothing deleted")
        if dry_run:
            return list(names)
        deleted = borg.delete_archives(repository, list(dict.fromkeys(names)))
        if not deleted.ok:
            raise ArchiveError(f"borg delete failed: {deleted.error_line()}")
    catalog.refresh(repository, holder=f"refresh after {holder}")
    return list(names)


def queue(repository: Repository, names: list[str], user) -> str:
    return async_task("archives.services.deletion.delete_task", repository.pk, names, user.get_username())


def delete_task(repository_id: int, names: list[str], username: str) -> dict:
    repository = Repository.objects.get(pk=repository_id)
    title = f"Delete {len(names)} archive(s) of {repository.name}"
    try:
        deleted = delete(repository, names, holder=f"delete by {username}")
    except (ArchiveError, leases.RepositoryBusy) as e:
        return {"title": title, "ok": False, "message": str(e)}
    return {"title": title, "ok": True, "message": "deleted: " + ", ".join(deleted)}
