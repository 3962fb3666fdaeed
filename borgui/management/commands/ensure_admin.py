import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Create the admin user when no superuser exists yet. The password comes from "
        "BORGUI_ADMIN_PASSWORD, else one is generated and printed once."
    )
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--username", default=os.environ.get("BORGUI_ADMIN_USER", "admin"))

    def handle(self, *args, username, **options):
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            return
        password = os.environ.get("BORGUI_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        User.objects.create_superuser(username=username, email="", password=password)
        if os.environ.get("BORGUI_ADMIN_PASSWORD"):
            self.stdout.write(f"created admin user {username!r} with the password from BORGUI_ADMIN_PASSWORD")
        else:
            self.stdout.write(f"created admin user {username!r} with password: {password}")
            self.stdout.write("(shown once: change it in the admin under Users)")
