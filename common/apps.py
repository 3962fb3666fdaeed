from django.apps import AppConfig


class CommonConfig(AppConfig):
    """The base layer: no models, only shared templates (pages under an object)."""

    name = "common"
    verbose_name = "Common"
