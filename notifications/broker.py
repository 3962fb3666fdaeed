"""django-q2's ORM broker, with each cluster's heartbeat kept in the database.

django-q2's sentinel saves its status (``Stat``) through ``broker.set_stat`` every guard
cycle (0.5 s), into the Django cache, which is per process here (no shared cache is
configured). ``run_backup`` must know whether any worker is alive to deliver its own
notifications otherwise (docs/notifications.md), so this broker also writes a row per
cluster, at most every ``WRITE_EVERY`` seconds, and deletes it when the cluster stops.
"""

import logging
import time

from django.db import DatabaseError
from django.utils import timezone
from django_q.brokers.orm import ORM
from django_q.conf import Conf
from django_q.signing import BadSignature, SignedPackage

from notifications.models import WorkerHeartbeat

logger = logging.getLogger(__name__)
WRITE_EVERY = 10.0


class HeartbeatORM(ORM):
    _written: dict[str, float] = {}

    def set_stat(self, key: str, value: str, timeout: int):
        super().set_stat(key, value, timeout)
        try:
            stat = SignedPackage.loads(value)
        except BadSignature:
            return
        try:
            self._save_heartbeat(stat)
        except DatabaseError:
            logger.warning("could not save the worker heartbeat", exc_info=True)

    def _save_heartbeat(self, stat) -> None:
        cluster_id = str(stat.cluster_id)
        if str(stat.status) == str(Conf.STOPPED):
            WorkerHeartbeat.objects.filter(cluster_id=cluster_id).delete()
            self._written.pop(cluster_id, None)
            return
        now = time.monotonic()
        if now - self._written.get(cluster_id, -WRITE_EVERY) < WRITE_EVERY:
            return
        self.get_connection()  # closes a stale connection first, like the broker's own queries
        WorkerHeartbeat.objects.update_or_create(
            cluster_id=cluster_id, defaults={"host": stat.host, "pid": stat.pid, "seen": timezone.now()}
        )
        self._written[cluster_id] = now
