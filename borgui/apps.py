from django.apps import AppConfig


class BorguiConfig(AppConfig):
    """The project package doubles as an app for system-wide commands and pages."""

    name = "borgui"
    verbose_name = "System"
