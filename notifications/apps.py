import logging

from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Notifications and monitoring"

    def ready(self):
        from repositories.services import steps

        steps.register("notifications.steps.NotificationSteps")
        # Stale plans and the metrics' recount, in the worker's minute task.
        steps.register_periodic("notifications.tasks.every_minute")
        # Apprise logs URLs and payloads, which hold tokens: only borgui's masked summary of
        # what it said is kept (notifications.services.delivery).
        logging.getLogger("apprise").propagate = False
