"""Recording events when they happen (docs/notifications.md).

Recording is one query to find the channels that want it and, when some do, one row and
one queued task (with the event's id only: the URLs stay encrypted in their table). The
delivery itself happens on a worker (``delivery.deliver_event``), never in the run.
"""

import logging

from notifications.models import Channel, Event, EventKind

logger = logging.getLogger(__name__)
DELIVER_TASK = "notifications.tasks.deliver_event"


def plan_ids_of(plan=None, repository=None) -> set[int]:
    """The plans an event is about: its plan, or the plans that use its repository."""
    if plan is not None:
        return {plan.pk}
    if repository is not None:
        return set(repository.plan_links.values_list("plan_id", flat=True))
    return set()


def channels_for(kind: str, plan_ids: set[int]) -> list[Channel]:
    channels = Channel.objects.prefetch_related("plans").order_by("name")
    return [c for c in channels if c.hears(kind, plan_ids, {p.pk for p in c.plans.all()})]


def record(kind: EventKind | str, *, run=None, plan=None, repository=None, details=None, queue=True) -> Event | None:
    """Record KIND when a channel wants it and queue its delivery; None when none does.

    Never raises: an event that cannot be recorded is logged, and what happened goes on.
    """
    try:
        plan = plan if plan is not None else (run.plan if run is not None else None)
        if not channels_for(kind, plan_ids_of(plan, repository)):
            return None
        event = Event.objects.create(kind=kind, run=run, plan=plan, repository=repository, details=details or {})
        if queue:
            enqueue(event)
        return event
    except Exception:
        logger.exception("could not record the %s event", kind)
        return None


def enqueue(event: Event) -> None:
    from django_q.tasks import async_task

    async_task(DELIVER_TASK, event.pk, q_options={"group": "borgui:notify", "timeout": 300})
