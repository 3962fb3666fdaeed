from django.core.management.base import BaseCommand

from hooks.docker_templates import sync_templates


class Command(BaseCommand):
    help = "Create the script library's ready Docker templates that are missing and restore changed ones."

    def handle(self, *args, **options):
        results = sync_templates()
        for name, action in results:
            self.stdout.write(f"{name}: {action}")
        changed = sum(action in ("created", "restored") for _, action in results)
        self.stdout.write(f"{changed} template(s) created or restored")
