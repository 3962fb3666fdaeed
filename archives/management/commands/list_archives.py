import json

from archives.management.commandkit import ArchiveCommand, one_line_errors


class Command(ArchiveCommand):
    help = "List a repository's archives, oldest first (the cached list; --refresh reads it from borg)."

    def add_arguments(self, parser):
        self.add_repository_argument(parser)
        parser.add_argument("--refresh", action="store_true", help="read the list from borg first")
        parser.add_argument("--json", action="store_true", help="a JSON list")

    def handle(self, *args, repository, refresh, json: bool, **options):
        from archives.services import catalog

        repo = self.get_repository(repository)
        with one_line_errors():
            if refresh or not catalog.is_listed(repo):
                catalog.refresh(repo, holder="list_archives")
            archives = list(catalog.archives_of(repo))
            catalog.fill_stats(repo, archives)
        if json:
            self.stdout.write(_dumps([archive.as_json() for archive in archives]))
            return
        for archive in archives:
            start = archive.start.isoformat() if archive.start else "-"
            flag = " (checkpoint)" if archive.checkpoint else ""
            plan = f" plan={archive.plan.name}" if archive.plan else ""
            files = "-" if archive.nfiles is None else archive.nfiles
            self.stdout.write(f"{archive.name}\t{start}\t{files} files{plan}{flag}")


def _dumps(value) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)
