from django.core.management.base import BaseCommand, CommandError

from system.report import format_report, report_ok, system_report


class Command(BaseCommand):
    help = (
        "Report what borgui needs on this machine: borg, the database, the docker CLI, the Docker daemon and the "
        "API sections the enabled hooks and plans use. Exit 1 when something they need is missing."
    )
    requires_system_checks = []

    def handle(self, *args, **options):
        report = system_report()
        for line in format_report(report):
            self.stdout.write(line)
        if not report_ok(report):
            failed = ", ".join(check.name for check in report if check.required and not check.ok and not check.note)
            raise CommandError(f"not ready: {failed}", returncode=1)
