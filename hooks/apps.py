from django.apps import AppConfig


class HooksConfig(AppConfig):
    name = "hooks"
    verbose_name = "Hook scripts"

    def ready(self):
        from repositories.services import steps

        steps.register("hooks.services.engine.HookSteps")
        steps.register_periodic("hooks.services.testing.expire_interrupted_tests")
