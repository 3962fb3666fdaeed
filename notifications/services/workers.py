"""Is a worker alive? (The heartbeats notifications.broker keeps.)"""

from datetime import timedelta

from django.utils import timezone

from notifications.models import WorkerHeartbeat

ALIVE_WITHIN = timedelta(seconds=60)


def worker_alive() -> bool:
    return WorkerHeartbeat.objects.filter(seen__gte=timezone.now() - ALIVE_WITHIN).exists()
