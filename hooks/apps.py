from django.apps import AppConfig


class HooksConfig(AppConfig):
    name = "hooks"
    verbose_name = "Hook scripts"

    def ready(self):
        from hooks.services.engine import HookSteps
        from repositories.services import steps

        steps.register(HookSteps())
