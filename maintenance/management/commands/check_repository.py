from django.core.management.base import CommandError

from maintenance.management.commandkit import MaintenanceCommand


class Command(MaintenanceCommand):
    help = "Check a repository with borg check, in the foreground (exit 0 no problems, 2 errors found or failed)."

    def add_arguments(self, parser):
        parser.add_argument("repository", help="name of the repository")
        parser.add_argument("--verify-data", action="store_true", help="read and verify every chunk (slow)")
        parser.add_argument(
            "--max-duration", type=int, metavar="S", help="partial repository-only check of at most S seconds"
        )

    def handle(self, *args, repository, verify_data, max_duration, **options):
        from maintenance.models import MaintenanceKind

        if verify_data and max_duration:
            raise CommandError("--verify-data and --max-duration cannot be combined", returncode=2)
        if max_duration is not None and max_duration < 1:
            raise CommandError("--max-duration must be at least 1 second", returncode=2)
        repo = self.get_repository(repository)
        self.run_job(
            MaintenanceKind.CHECK, repository=repo, options={"verify_data": verify_data, "max_duration": max_duration}
        )
