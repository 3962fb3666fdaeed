from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Print the configuration as the YAML apply_config reads (docs/configuration.md). Secrets are never printed: "
        "each is a reference to an environment variable, listed at the top."
    )
    requires_system_checks = []

    def handle(self, *args, **options):
        from configuration.export import export_text

        self.stdout.write(export_text(), ending="")
