from maintenance.management.commandkit import MaintenanceCommand


class Command(MaintenanceCommand):
    help = "Give back the space that prune and delete freed (borg compact), in the foreground."

    def add_arguments(self, parser):
        parser.add_argument("repository", help="name of the repository")

    def handle(self, *args, repository, **options):
        from maintenance.models import MaintenanceKind

        self.run_job(MaintenanceKind.COMPACT, repository=self.get_repository(repository))

    def summary(self, job) -> list[str]:
        if job.freed is None:
            return []
        return [f"size on disk: {job.size_before} bytes before, {job.size_after} after ({job.freed} freed)"]
