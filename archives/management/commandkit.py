"""What the archive commands share: one-line errors with exit 2 (docs/archives.md)."""

from contextlib import contextmanager

from django.core.management.base import BaseCommand, CommandError


class ArchiveCommand(BaseCommand):
    requires_system_checks = []
    requires_migrations_checks = False

    def add_repository_argument(self, parser):
        parser.add_argument("repository", help="name of the repository")

    def get_repository(self, name: str):
        from repositories.models import Repository

        repository = Repository.objects.filter(name=name).first()
        if repository is None:
            raise CommandError(f"no repository named {name!r}", returncode=2)
        return repository

    def get_archive(self, repository, name: str):
        from archives.services import catalog

        with one_line_errors():
            return catalog.resolve(repository, name, on_wait=self.stderr.write)


@contextmanager
def one_line_errors():
    """What borgui can say went wrong becomes one line on stderr and exit 2."""
    from archives.services.catalog import ArchiveError
    from repositories.borg import BorgError
    from repositories.services.leases import RepositoryBusy

    try:
        yield
    except (ArchiveError, BorgError, RepositoryBusy, ValueError) as e:
        raise CommandError(str(e), returncode=2) from e
