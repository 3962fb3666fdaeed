"""django-q2 task entry points (the work is in notifications.services)."""

from notifications.services import delivery, metrics, stale


def deliver_event(event_id: int) -> str:
    return delivery.deliver_event(event_id)


def every_minute() -> str:
    opened = stale.check_stale_plans()
    samples = metrics.refresh_all()
    return f"{len(opened)} stale episode(s) opened, {samples} metric samples"
