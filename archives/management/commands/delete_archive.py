from archives.management.commandkit import ArchiveCommand, one_line_errors


class Command(ArchiveCommand):
    help = "Delete archives, each checked against a freshly read list first (space is freed by compact)."

    def add_arguments(self, parser):
        self.add_repository_argument(parser)
        parser.add_argument("archives", nargs="+", help="archive names (`latest` allowed)")
        parser.add_argument("--dry-run", action="store_true", help="check the names; delete nothing")

    def handle(self, *args, repository, archives, dry_run, **options):
        from archives.services import catalog, deletion

        repo = self.get_repository(repository)
        with one_line_errors():
            names = [self.get_archive(repo, name).name if name == catalog.LATEST else name for name in archives]
            deleted = deletion.delete(repo, names, dry_run=dry_run, holder="delete_archive")
        verb = "would delete" if dry_run else "deleted"
        for name in deleted:
            self.stdout.write(f"{verb}: {name}")
