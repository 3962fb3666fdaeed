"""Is a worker alive? (The heartbeats notifications.broker keeps.)"""

from datetime import timedelta

from django.utils import timezone

ALIVE_WITHIN = timedelta(seconds=60)


def worker_alive() -> bool:
    from notifications.models import WorkerHeartbeat

    return WorkerHeartbeat.objects.filter(seen__gte=timezone.now() - ALIVE_WITHIN).exists()
