from django.core.management.base import BaseCommand

from accounts.roles import markdown_matrix


class Command(BaseCommand):
    help = "Print the role → permission matrix as Markdown (the section of docs/security.md)."
    requires_system_checks = []

    def handle(self, *args, **options):
        self.stdout.write(markdown_matrix(), ending="")
