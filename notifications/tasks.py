"""django-q2 task entry points (the work is in notifications.services)."""

from notifications.services import delivery


def deliver_event(event_id: int) -> str:
    return delivery.deliver_event(event_id)


def check_stale() -> str:
    from notifications.services import stale

    return f"{len(stale.check_stale_plans())} stale episode(s) opened"
