from django.apps import AppConfig


class ConfigurationConfig(AppConfig):
    """Configuration as code: the apply_config and export_config commands."""

    name = "configuration"
    verbose_name = "Configuration"
