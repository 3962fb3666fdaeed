"""manage.py rotate_encryption_key [--dry-run] (docs/security.md#rotating-the-key)."""

from django.core.management.base import BaseCommand, CommandError

from common.rotation import rotate_all


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored secret with the first key of BORGUI_ENCRYPTION_KEY "
        "(set it to NEW,OLD first; afterwards NEW alone is enough)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="count what would be re-encrypted, change nothing")

    def handle(self, *args, dry_run=False, **options):
        reports = rotate_all(dry_run=dry_run)
        verb = "to re-encrypt" if dry_run else "re-encrypted"
        for report in reports:
            self.stdout.write(f"{report.label}: {report.rotated} {verb}, {report.current} already current")
            for error in report.errors:
                self.stderr.write(f"error: {error}")
        rotated = sum(report.rotated for report in reports)
        errors = sum(len(report.errors) for report in reports)
        self.stdout.write(f"{rotated} secret(s) {verb}, {errors} error(s){' (dry run)' if dry_run else ''}")
        if errors:
            raise CommandError(f"{errors} secret(s) could not be re-encrypted (see above)")
