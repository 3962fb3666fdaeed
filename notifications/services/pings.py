"""Ping URLs, the healthchecks.io protocol (docs/notifications.md).

Sent by the process that runs the plan, in order: ``GET URL/start`` when the run starts,
``POST URL`` with a short summary on success, warning or skipped, ``POST URL/fail`` with
the output tail on failure. Each waits at most ``TIMEOUT`` seconds; a failure is
recorded as a delivery attempt on the run and never fails the run.
"""

import logging
import urllib.error
import urllib.request

from django.utils import timezone

from common.text import mask
from notifications.models import DeliveryAttempt
from notifications.services import messages, urls
from repositories.status import Status

logger = logging.getLogger(__name__)
TIMEOUT = 10
MAX_BODY_BYTES = 10_000  # healthchecks' own limit for a ping body


def _request(url: str, body: bytes | None) -> str:
    """ "" when the ping was answered with 2xx, else why not."""
    request = urllib.request.Request(url, data=body, method="POST" if body is not None else "GET")
    request.add_header("User-Agent", "borgui")
    if body is not None:
        request.add_header("Content-Type", "text/plain; charset=utf-8")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310 - http(s) only, checked
            response.read(1024)
            return ""
    except urllib.error.HTTPError as e:
        return f"HTTP {e.code} {e.reason}"
    except urllib.error.URLError as e:
        return f"{getattr(e.reason, 'strerror', None) or e.reason}"
    except (OSError, ValueError) as e:
        return str(e) or type(e).__name__


def send_ping(run, url: str, suffix: str, body: str | None, kind: str) -> DeliveryAttempt:
    target = f"ping /{suffix}" if suffix else "ping"
    problem = urls.ping_url_problem(url)
    error = problem or _request(urls.with_suffix(url, suffix), None if body is None else _bounded(body))
    error = mask(error, urls.secret_parts(url))[:500]
    if error:
        logger.warning("%s of run %s failed: %s", target, run.pk, error)
    return DeliveryAttempt.objects.create(
        run=run, target=target, kind=kind, subject=f"run {run.pk} of {run.plan.name}", ok=not error, error=error,
        at=timezone.now(),
    )  # fmt: skip


def _bounded(text: str) -> bytes:
    data = text.encode("utf-8")
    if len(data) <= MAX_BODY_BYTES:
        return data
    # Keep the end: the last lines say what went wrong.
    return data[-MAX_BODY_BYTES:].decode("utf-8", errors="ignore").encode("utf-8")


def ping_start(run, url: str) -> DeliveryAttempt:
    return send_ping(run, url, "start", None, "start")


def ping_end(run, url: str) -> DeliveryAttempt:
    if run.status == Status.FAILURE:
        label, tail = messages.masked_tail(run)
        body = "\n".join(messages.run_summary(run)) + (f"\n\nOutput of {label}:\n" + "\n".join(tail) if tail else "")
        return send_ping(run, url, "fail", body, run.status)
    return send_ping(run, url, "", "\n".join(messages.run_summary(run)), run.status)
