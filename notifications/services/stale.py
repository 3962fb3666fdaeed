"""Stale backups (docs/notifications.md): a plan with ``alert_after_hours`` whose newest
success or warning (or, without one, its creation) is older than that. One ``stale``
event per episode; the next success or warning ends the episode. Checked by the
worker's minute task."""

from datetime import timedelta

from django.db.models import Max, Q
from django.utils import timezone

from common import humanize
from notifications.models import EventKind, PlanMonitoring
from notifications.services import events
from repositories.status import Status

OK_STATUSES = (Status.SUCCESS, Status.WARNING)


def check_stale_plans(now=None) -> list[PlanMonitoring]:
    """Open an episode (and record its event) for each plan newly stale; close the
    episodes of plans that succeeded since. Returns the newly stale ones."""
    now = now or timezone.now()
    watched = (
        PlanMonitoring.objects.filter(Q(alert_after_hours__isnull=False) | Q(stale_since__isnull=False))
        .select_related("plan")
        .annotate(last_ok=Max("plan__runs__finished", filter=Q(plan__runs__status__in=OK_STATUSES)))
    )
    opened = []
    for monitoring in watched:
        plan = monitoring.plan
        if monitoring.stale_since is not None:
            if monitoring.last_ok and monitoring.last_ok > monitoring.stale_since or not _watching(monitoring):
                PlanMonitoring.objects.filter(pk=monitoring.pk).update(stale_since=None)
            continue
        if not _watching(monitoring):
            continue
        since = monitoring.last_ok or plan.created
        age = now - since
        if age <= timedelta(hours=monitoring.alert_after_hours):
            continue
        if PlanMonitoring.objects.filter(pk=monitoring.pk, stale_since__isnull=True).update(stale_since=now):
            details = {
                "age_seconds": int(age.total_seconds()),
                "alert_after_hours": monitoring.alert_after_hours,
                "last_success": humanize.when(monitoring.last_ok) if monitoring.last_ok else "",
                "created": humanize.when(plan.created),
            }
            events.record(EventKind.STALE, plan=plan, details=details)
            opened.append(monitoring)
    return opened


def _watching(monitoring: PlanMonitoring) -> bool:
    return monitoring.plan.enabled and monitoring.alert_after_hours is not None
