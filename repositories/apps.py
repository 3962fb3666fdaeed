from django.apps import AppConfig


class RepositoriesConfig(AppConfig):
    name = "repositories"
    verbose_name = "Backups"

    def ready(self):
        from django.db.models.signals import post_save, pre_delete
        from django_q.signals import post_spawn

        from repositories import signals
        from repositories.services import steps

        post_save.connect(signals.plan_saved, sender="repositories.BackupPlan")
        pre_delete.connect(signals.plan_deleted, sender="repositories.BackupPlan")
        post_spawn.connect(signals.worker_started)
        # Runs after the hook chains of each step (its order is 100), whatever the app order.
        steps.register("repositories.services.containers.ContainerStopSteps")
        steps.register_periodic("repositories.services.containers.retry_failed_starts")
        # Mounts of remote sources a dead worker left on this machine (docs/remote-sources.md).
        steps.register_periodic("repositories.services.remote_sources.unmount_leftovers")
