"""django-q2 task entry points for archive work on the worker (kept tiny)."""

from django.utils import timezone
from django_q.tasks import async_task

from archives.models import Archive, ArchiveIndex, ArchiveListState, IndexState
from archives.services import catalog, index, restore
from archives.services.catalog import ArchiveError
from repositories.models import Repository


def queue_refresh(repository: Repository) -> None:
    ArchiveListState.objects.update_or_create(repository=repository, defaults={"queued": timezone.now()})
    async_task("archives.tasks.refresh_archives", repository.pk, q_options={"group": f"archives:{repository.pk}"})


def queue_index(archive: Archive) -> None:
    ArchiveIndex.objects.update_or_create(
        archive=archive, defaults={"state": IndexState.QUEUED, "created": timezone.now(), "error": ""}
    )
    async_task("archives.tasks.build_index", archive.pk, q_options={"timeout": -1})


def refresh_archives(repository_id: int) -> str:
    repository = Repository.objects.filter(pk=repository_id).first()
    if repository is None:
        return "repository deleted"
    try:
        count = catalog.refresh(repository, holder="admin refresh")
        catalog.fill_stats(repository, list(catalog.archives_of(repository)))
    except catalog.ArchiveError as e:
        return str(e)
    except Exception as e:
        ArchiveListState.objects.filter(repository=repository).update(queued=None, error=str(e)[:500])
        raise
    return f"{count} archive(s)"


def build_index(archive_id: int) -> str:
    archive = Archive.objects.select_related("repository").filter(pk=archive_id).first()
    if archive is None:
        return "archive deleted"
    try:
        built = index.build(archive, holder="index build")
    except ArchiveError as e:
        return str(e)
    return f"{built.entries} entries"


def run_restore(job_id: int) -> str:
    return restore.execute_queued(job_id)


def recover_restores() -> str:
    return f"{restore.recover_interrupted()} restore(s) finished as interrupted"
