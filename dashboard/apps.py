from django.apps import AppConfig


class DashboardConfig(AppConfig):
    """The admin's front page: how the backups are doing (docs/dashboard.md)."""

    name = "dashboard"
    verbose_name = "Dashboard"
