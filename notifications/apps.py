from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Notifications and monitoring"

    def ready(self):
        import logging

        from repositories.services import steps

        steps.register("notifications.steps.NotificationSteps")
        steps.register("notifications.steps.ContainerAlertSteps")
        # Apprise logs URLs and payloads, which hold tokens: only borgui's masked summary of
        # what it said is kept (notifications.services.delivery).
        logging.getLogger("apprise").propagate = False
