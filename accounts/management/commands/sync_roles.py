from django.core.management.base import BaseCommand

from accounts.roles import sync_groups


class Command(BaseCommand):
    help = (
        "Give the groups viewer, operator and admin exactly the permissions of the role matrix "
        "(migrate does it too); lists the permissions the matrix names that do not exist here."
    )

    def handle(self, *args, **options):
        for name in sync_groups():
            self.stderr.write(f"skipped {name}: no such permission (its app is not installed)")
        self.stdout.write("groups viewer, operator and admin are up to date")
