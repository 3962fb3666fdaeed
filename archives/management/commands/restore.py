import signal
import sys
import threading

from django.core.management.base import CommandError

from archives.management.commandkit import ArchiveCommand, one_line_errors


class Command(ArchiveCommand):
    help = "Restore paths of an archive (none: all of it) into --target, in the foreground; last line `status: VALUE`."

    def add_arguments(self, parser):
        self.add_repository_argument(parser)
        parser.add_argument("archive", help="archive name, or `latest`")
        parser.add_argument("paths", nargs="*", help="files or directories in the archive")
        parser.add_argument("--target", required=True, help="a new or empty directory (see --overwrite)")
        parser.add_argument("--strip-components", type=int, default=0)
        parser.add_argument("--overwrite", action="store_true", help="replace existing files; nothing is deleted")
        parser.add_argument("--dry-run", action="store_true", help="list what would be restored; write nothing")
        parser.add_argument(
            "--target-connection", metavar="NAME", help="the target is on this SSH connection's machine (over SSH)"
        )

    def handle(self, *args, repository, archive, paths, target, strip_components, overwrite, dry_run, **options):
        from archives.models import RestoreStatus
        from archives.services import index, restore

        connection = self._connection(options.get("target_connection"))
        repo = self.get_repository(repository)
        found = self.get_archive(repo, archive)
        with one_line_errors():
            index.ensure(found, holder="restore")
            try:
                job = restore.request(
                    found, paths, None, target=target, strip_components=strip_components, overwrite=overwrite,
                    dry_run=dry_run, admin_group=True, confirmed_root=overwrite, requested_from="cli",
                    target_connection=connection,
                )  # fmt: skip
            except restore.RestoreRefused as e:
                raise CommandError(f"refused: {e}", returncode=2) from e
        self._cancel_on_ctrl_c(job)
        status = restore.execute(job, echo=self._echo)
        self.stdout.write(f"status: {status.value}")
        sys.exit(RestoreStatus(status).exit_code)

    @staticmethod
    def _connection(name: str | None):
        """Restore to a source host (docs/remote-sources.md)."""
        from repositories.models import SSHConnection

        if not name:
            return None
        connection = SSHConnection.objects.filter(name=name).first()
        if connection is None:
            raise CommandError(f"no SSH connection named {name!r}", returncode=2)
        return connection

    def _echo(self, line: str) -> None:
        self.stdout.write(line)
        self.stdout.flush()

    def _cancel_on_ctrl_c(self, job) -> None:
        from archives.services import restore

        def handler(signum, frame):
            signal.signal(signal.SIGINT, signal.default_int_handler)
            self.stderr.write("cancelling the restore (Ctrl-C again to abort)")
            threading.Thread(target=restore.request_cancel, args=[job]).start()

        signal.signal(signal.SIGINT, handler)
