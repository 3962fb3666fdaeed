import json

from django.core.management.base import CommandError

from archives.management.commandkit import ArchiveCommand, one_line_errors


class Command(ArchiveCommand):
    help = "One directory of an archive (the root by default), or the entries matching --search."

    def add_arguments(self, parser):
        self.add_repository_argument(parser)
        parser.add_argument("archive", help="archive name, or `latest`")
        parser.add_argument("path", nargs="?", default="", help="a directory in the archive (with or without /)")
        parser.add_argument("--search", help="entries whose path contains TEXT (case insensitive)")
        parser.add_argument("--json", action="store_true", help="a JSON list")

    def handle(self, *args, repository, archive, path, search, json: bool, **options):
        from archives.services import index as archive_index

        repo = self.get_repository(repository)
        found = self.get_archive(repo, archive)
        with one_line_errors():
            built = archive_index.ensure(found, holder="browse_archive")
        if search is not None:
            entries = archive_index.search(built, search)
        else:
            entry = archive_index.lookup(built, path)
            if path.strip("/") and (entry is None or entry.type != "d"):
                what = "is not a directory" if entry else "does not exist"
                raise CommandError(f"{path!r} {what} in archive {found.name}", returncode=2)
            entries = archive_index.children(built, path).iterator(chunk_size=2000)
        if json:
            self.stdout.write(_dumps([archive_index.entry_json(entry) for entry in entries]))
            return
        for entry in entries:
            target = f" -> {entry.linktarget}" if entry.linktarget else ""
            size = "-" if entry.size is None else str(entry.size)
            mtime = entry.mtime.isoformat() if entry.mtime else "-"
            self.stdout.write(f"{entry.type} {entry.mode or '-':10} {size:>12} {mtime} {entry.path}{target}")


def _dumps(value) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)
