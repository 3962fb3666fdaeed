import json

from archives.management.commandkit import ArchiveCommand, one_line_errors


class Command(ArchiveCommand):
    help = "What changed from archive OLD to NEW (added, removed, modified, metadata), optionally below PATHs."

    def add_arguments(self, parser):
        self.add_repository_argument(parser)
        parser.add_argument("old")
        parser.add_argument("new")
        parser.add_argument("paths", nargs="*")
        parser.add_argument("--json", action="store_true", help="a JSON list of {path, change, size_delta}")

    def handle(self, *args, repository, old, new, paths, json: bool, **options):
        from archives.services import differ

        repo = self.get_repository(repository)
        old_archive, new_archive = self.get_archive(repo, old), self.get_archive(repo, new)
        with one_line_errors():
            changes = differ.diff(old_archive, new_archive, paths, holder="diff_archives")
            if json:
                self.stdout.write(_dumps(list(changes)))
                return
            for change in changes:
                self.stdout.write(f"{change['change']:9} {change['size_delta']:+d} {change['path']}")


def _dumps(value) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)
