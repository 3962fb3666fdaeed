from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Send a test notification through a channel. Exit 0 when delivered, 2 when not (with Apprise's reason)."

    def add_arguments(self, parser):
        parser.add_argument("channel", help="name of the notification channel")

    def handle(self, *args, channel, **options):
        from notifications.models import Channel
        from notifications.services import delivery

        try:
            target = Channel.objects.get(name=channel)
        except Channel.DoesNotExist:
            raise CommandError(f"no notification channel named {channel!r}", returncode=2) from None
        attempt = delivery.send_test(target)
        if not attempt.ok:
            raise CommandError(f"not delivered to {target.name} ({target.shown_url}): {attempt.error}", returncode=2)
        self.stdout.write(f"delivered to {target.name} ({target.shown_url})")
