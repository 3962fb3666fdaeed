import sys

from django.core.management.base import BaseCommand, CommandError

# The command's exit code is the script's, so a usage error must not look like a script
# that exited 2: like `docker run`, it is 125, "could not run".
from hooks.services.runner import EXIT_COULD_NOT_RUN as COULD_NOT_RUN
from repositories.status import HookType


class Command(BaseCommand):
    help = "Run a library script as a test, in the foreground, and print its output."
    requires_system_checks = []

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        argparse_exit = parser.exit

        def exit(status=0, message=None):
            argparse_exit(COULD_NOT_RUN if status == 2 else status, message)

        parser.exit = exit
        return parser

    def add_arguments(self, parser):
        parser.add_argument("script", help="name of the script")
        parser.add_argument("--repository", help="give the hook this repository's variables")
        parser.add_argument("--hook-type", default=HookType.PRE_BACKUP.value, choices=HookType.values)
        parser.add_argument("--status", default="success", choices=["success", "failure", "warning"])
        parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="a parameter value")

    def handle(self, *args, script, repository, hook_type, status, param, **options):
        from hooks.models import Script
        from hooks.services.testing import TestRequestError, create_test, run_test
        from repositories.models import Repository

        try:
            found = Script.objects.get(name=script)
        except Script.DoesNotExist:
            raise CommandError(f"no script named {script!r}", returncode=COULD_NOT_RUN) from None
        chosen = None
        if repository is not None:
            chosen = Repository.objects.filter(name=repository).first()
            if chosen is None:
                raise CommandError(f"no repository named {repository!r}", returncode=COULD_NOT_RUN)
        try:
            values = dict(_split(item) for item in param)
            execution = create_test(found, "test_script", chosen, hook_type, status, values)
        except (TestRequestError, ValueError) as e:
            raise CommandError(str(e), returncode=COULD_NOT_RUN) from e
        execution = run_test(execution)
        self.stdout.write(execution.stdout, ending="")
        self.stderr.write(execution.stderr, ending="")
        self.stderr.write(f"{found.name}: {execution.outcome} in {execution.duration or 0:.2f} s")
        sys.exit(execution.cli_exit_code)


def _split(item: str) -> tuple[str, str]:
    name, sep, value = item.partition("=")
    if not sep or not name:
        raise ValueError(f"--param {item!r}: use NAME=VALUE")
    return name, value
