from django.core.management.base import CommandError

from archives.management.commandkit import ArchiveCommand

HEADER = """# borgui recovery kit — what borg alone needs to open each repository without borgui.
# It contains passphrases and keys in clear: print it, keep it offline, then delete it.
# See docs/restore-without-borgui.md.
"""


class Command(ArchiveCommand):
    help = "Print, for the machine's operator, what borg alone needs to open each repository (secrets in clear)."

    def add_arguments(self, parser):
        parser.add_argument("repositories", nargs="*", help="repository names (default: all)")

    def handle(self, *args, repositories, **options):
        from archives.services.recovery_kit import kit
        from repositories.models import Repository

        chosen = []
        for name in repositories:
            repository = Repository.objects.filter(name=name).first()
            if repository is None:
                raise CommandError(f"no repository named {name!r}", returncode=2)
            chosen.append(repository)
        self.stdout.write(HEADER)
        for repository in chosen or Repository.objects.order_by("name"):
            self.stdout.write(kit(repository))
