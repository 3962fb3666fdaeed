from django.apps import AppConfig


class SystemConfig(AppConfig):
    """The System report: check_system and the admin's System page."""

    name = "system"
    verbose_name = "System"
