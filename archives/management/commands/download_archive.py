import os
import sys

from archives.management.commandkit import ArchiveCommand, one_line_errors


class Command(ArchiveCommand):
    help = "A file's bytes, or a directory (no PATH: the whole archive) as .tar.gz, to FILE or stdout."

    def add_arguments(self, parser):
        self.add_repository_argument(parser)
        parser.add_argument("archive", help="archive name, or `latest`")
        parser.add_argument("path", nargs="?", default="", help="a file or directory in the archive")
        parser.add_argument("--output", help="write to FILE instead of stdout")

    def handle(self, *args, repository, archive, path, output, **options):
        from archives.services import download, index

        repo = self.get_repository(repository)
        found = self.get_archive(repo, archive)
        with one_line_errors():
            built = index.ensure(found, holder="download_archive")
            stream = download.open_download(found, path, "download_archive", index_=built, wait_seconds=None)
            try:
                _write(stream, output)
            except download.StreamFailed:
                if output:
                    os.unlink(output)  # a partial file must not pass for the download
                raise


def _write(stream, output: str | None) -> None:
    if output is None:
        for chunk in stream:
            sys.stdout.buffer.write(chunk)
        sys.stdout.buffer.flush()
        return
    with open(output, "wb") as f:
        for chunk in stream:
            f.write(chunk)
