"""Sending notifications through Apprise: 3 tries with back-off, every try recorded.

Apprise's own log is switched off (NotificationsConfig.ready: it names hosts, paths and
payloads, which hold tokens);
what a failed try reports is taken from it here, masked with the URL's parts, and stored
on the attempt.
"""

import logging
import re
import time
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from common.text import mask
from notifications.models import Channel, DeliveryAttempt, Event
from notifications.services import events, messages, urls

logger = logging.getLogger(__name__)
TRIES = 3
_ERRNO_REASON = re.compile(r"\[Errno -?\d+\] ([^\"')\]]+)")


@dataclass
class Sent:
    ok: bool
    error: str = ""


def send(url: str, title: str, body: str, notify_type: str = "info") -> Sent:
    """One try: Apprise sends TITLE and BODY to URL; the reason when it did not, masked."""
    import apprise

    service = apprise.Apprise()
    problem = urls.apprise_url_problem(url)
    if problem or not service.add(url):
        return Sent(False, problem or "Apprise does not accept this URL")
    with apprise.LogCapture(level=logging.DEBUG, fmt="%(levelname)s %(message)s") as captured:
        try:
            ok = bool(service.notify(title=title, body=body, notify_type=notify_type))
        except Exception as e:  # a plugin bug must not take the worker's task down
            return Sent(False, mask(f"{type(e).__name__}: {e}", urls.secret_parts(url))[:500])
    if ok:
        return Sent(True)
    return Sent(False, mask(_reason(captured.getvalue()), urls.secret_parts(url))[:500])


def _reason(log: str) -> str:
    """What Apprise said went wrong: its warnings and errors, and the socket's reason."""
    said = [line.split(" ", 1)[1] for line in log.splitlines() if line.startswith(("WARNING ", "ERROR "))]
    errnos = _ERRNO_REASON.findall(log)
    if errnos:
        said.append(errnos[-1].strip())
    return " ".join(dict.fromkeys(said)) or "Apprise reported a failure without a reason"


def retry_delays() -> list[float]:
    base = settings.BORGUI_NOTIFY_RETRY_SECONDS
    return [base * 2**index for index in range(TRIES - 1)]


def send_with_retries(
    channel: Channel, title: str, body: str, notify_type: str, *, event=None, kind="", subject="", tries=TRIES
) -> DeliveryAttempt:
    """Up to TRIES tries, waiting longer after each failure; every try is recorded."""
    delays = retry_delays()
    attempt = None
    for number in range(1, tries + 1):
        sent = send(channel.url, title, body, notify_type)
        attempt = DeliveryAttempt.objects.create(
            event=event,
            channel=channel,
            run=event.run if event is not None else None,
            target=channel.name,
            kind=kind or (event.kind if event is not None else "test"),
            subject=subject[:200],
            attempt=number,
            ok=sent.ok,
            error=sent.error,
            at=timezone.now(),
        )
        if sent.ok:
            break
        logger.warning("notification to channel %s failed (try %d of %d): %s", channel.name, number, tries, sent.error)
        if number < tries:
            time.sleep(delays[number - 1])
    return attempt


def claim(event_id: int) -> Event | None:
    """The event, if this process is the first to deliver it."""
    if not Event.objects.filter(pk=event_id, claimed__isnull=True).update(claimed=timezone.now()):
        return None
    return Event.objects.select_related("plan", "run", "repository").get(pk=event_id)


def deliver_event(event_id: int) -> str:
    """Send one recorded event to every channel that wants it (the worker's task)."""
    event = claim(event_id)
    if event is None:
        return "already delivered"
    channels = events.channels_for(event.kind, events.plan_ids_of(event.plan, event.repository))
    if not channels:
        return "no channel"
    message = messages.render(event)
    results = []
    for channel in channels:
        attempt = send_with_retries(
            channel, message.title, message.body, message.notify_type, event=event, subject=message.subject
        )
        results.append(f"{channel.name}: {'ok' if attempt.ok else 'error'}")
    return ", ".join(results)


def deliver_pending_of_run(run) -> int:
    """Deliver, in this process, the run's events no worker took (run_backup without a worker)."""
    delivered = 0
    for event_id in Event.objects.filter(run=run, claimed__isnull=True).order_by("id").values_list("id", flat=True):
        deliver_event(event_id)
        delivered += 1
    return delivered


def send_test(channel: Channel) -> DeliveryAttempt:
    """'Send test notification' and notify_test: one try, so the answer comes at once."""
    title, body = messages.test_message(channel)
    return send_with_retries(channel, title, body, "info", kind="test", subject=f"channel {channel.name}", tries=1)
