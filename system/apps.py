from django.apps import AppConfig


class SystemConfig(AppConfig):
    """The System report: check_system and the admin's System page."""

    name = "system"
    verbose_name = "System"

    def ready(self):
        from repositories.services import steps

        # The plan preview tells whether Docker lets the hooks do what they ask.
        steps.register("system.preview.DockerAccessPreview")
