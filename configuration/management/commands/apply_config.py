import logging
import sys

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Create or update SSH connections, scripts, repositories, plans and packages from a YAML file "
        "(docs/configuration.md), by name. Refused whole, with the path of each offending key, exit 2."
    )
    requires_system_checks = []
    stealth_options = ("stdin",)

    def add_arguments(self, parser):
        parser.add_argument("file", metavar="FILE", help="the YAML file, or - to read standard input")
        parser.add_argument("--dry-run", action="store_true", help="print what would change, change nothing")
        parser.add_argument(
            "--prune",
            action="store_true",
            help="also remove objects that are not in the file (only in the sections the file has)",
        )

    def handle(self, *args, file, dry_run, prune, **options):
        from configuration.apply import apply
        from configuration.load import parse, read_source
        from configuration.problems import ConfigError

        # The output is one line per object and the summary: django-q's "Enqueued …" (a
        # queued package install) would come in between; the package's own line says it.
        logging.getLogger("django-q").setLevel(logging.WARNING)
        try:
            data, source = read_source(file, options.get("stdin"))
            report = apply(parse(data, source), source=source, prune=prune, dry_run=dry_run)
        except ConfigError as e:
            for problem in e.problems:
                self.stderr.write(str(problem))
            sys.exit(2)
        for line in report.lines():
            self.stdout.write(line)
