from django.core.management.base import BaseCommand, CommandError

from borgui.system import report_ok, system_report


class Command(BaseCommand):
    help = "Report what borgui needs on this machine: borg, the database, the docker CLI."
    requires_system_checks = []

    def handle(self, *args, **options):
        report = system_report()
        width = max(len(check.name) for check in report)
        for check in report:
            self.stdout.write(f"{check.name:<{width}}  {check.label:<7} {check.detail}")
        if not report_ok(report):
            failed = ", ".join(check.name for check in report if check.required and not check.ok)
            raise CommandError(f"not ready: {failed}", returncode=1)
