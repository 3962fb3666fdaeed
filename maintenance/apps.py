from django.apps import AppConfig


class MaintenanceConfig(AppConfig):
    name = "maintenance"
    verbose_name = "Maintenance and verification"

    def ready(self):
        from django.db.models.signals import post_delete, post_save

        from maintenance import signals
        from repositories.services import steps

        post_save.connect(signals.repository_settings_saved, sender="maintenance.RepositoryMaintenance")
        post_save.connect(signals.plan_settings_saved, sender="maintenance.PlanMaintenance")
        post_delete.connect(signals.repository_settings_deleted, sender="maintenance.RepositoryMaintenance")
        post_delete.connect(signals.plan_settings_deleted, sender="maintenance.PlanMaintenance")
        post_save.connect(signals.plan_saved, sender="repositories.BackupPlan")
        # After the archive list refresh (order 200): compact once the run gave its leases back.
        steps.register("maintenance.steps.CompactAfterPruneSteps")
        # In the worker's minute recovery task: jobs whose process died, lost schedules.
        steps.register_periodic("maintenance.tasks.minute")
