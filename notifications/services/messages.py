"""What a notification says (docs/notifications.md): its title, and a body with the
duration, each repository's status and stats, the reason, the output tail of the step
that decided the status (masked with the run's secrets), and a link to the page."""

from dataclasses import dataclass

from django.conf import settings
from django.db.models import Q

from common.humanize import human_duration, human_size, when
from common.text import mask
from hooks.models import HookAttachment
from notifications.models import EventKind, PlanMonitoring
from notifications.services import urls
from repositories.status import Status, status_from_borg_exit

TAIL_LINES = 20


@dataclass
class Message:
    title: str
    body: str
    notify_type: str
    subject: str = ""


# --- formatting -----------------------------------------------------------------------


def link(path: str) -> str:
    base = settings.BORGUI_BASE_URL
    return f"{base.rstrip('/')}{path}" if base and path else ""


# --- the secrets of a run, and the output that decided its status ----------------------


def run_secrets(run) -> list[str]:
    """What must never appear in a run's messages: its repositories' passphrases, its
    hooks' secret parameter values, and the plan's ping URL."""
    jobs = list(run.jobs.select_related("repository"))
    repository_ids = [job.repository_id for job in jobs]
    secrets = [job.repository.passphrase for job in jobs if job.repository.passphrase]
    attachments = (
        HookAttachment.objects.filter(Q(plan_id=run.plan_id) | Q(repository_id__in=repository_ids))
        .select_related("script")
        .prefetch_related("script__parameters")
    )
    for attachment in attachments:
        values = attachment.values()
        secret_names = {p.name for p in attachment.script.parameters.all() if p.secret}
        secrets += [values[name] for name in secret_names if values.get(name)]
    ping_url = PlanMonitoring.objects.filter(plan_id=run.plan_id).values_list("ping_url", flat=True).first()
    return secrets + urls.secret_parts(ping_url or "")


def _last_lines(text: str, count: int = TAIL_LINES) -> list[str]:
    return [line for line in (text or "").splitlines() if line.strip()][-count:]


def _hook_output(execution) -> tuple[str, list[str]]:
    label = f"hook {execution.script_name} ({execution.hook_type}): {execution.outcome}"
    return label, _last_lines("\n".join(filter(None, [execution.stdout, execution.stderr])))


def decisive_output(run) -> tuple[str, list[str]]:
    """Which step decided a failure or warning, and the last lines of its output (unmasked).

    The first repository job with the run's status tells: borg, when borg's exit gave that
    status, else that job's first failed hook; then the plan's own failed hooks; else the
    run's log.
    """
    status = Status(run.status)
    if status not in (Status.FAILURE, Status.WARNING):
        return "", []
    failed_hooks = [e for e in run.hook_executions.order_by("created", "id") if not e.succeeded]
    for job in run.jobs.select_related("repository").order_by("order", "id"):
        if job.status != status:
            continue
        if job.borg_exit_code is not None and status_from_borg_exit(job.borg_exit_code) == status:
            return f"borg create on {job.repository.name} (exit {job.borg_exit_code})", _last_lines(job.log)
        for execution in failed_hooks:
            if execution.job_id == job.pk:
                return _hook_output(execution)
    for execution in failed_hooks:
        if execution.job_id is None:
            return _hook_output(execution)
    return "run log", _last_lines(run.log)


def masked_tail(run) -> tuple[str, list[str]]:
    label, lines = decisive_output(run)
    secrets = run_secrets(run)
    return label, mask("\n".join(lines), secrets).splitlines() if lines else []


# --- the messages ---------------------------------------------------------------------


def job_line(job) -> str:
    parts = [f"{job.repository.name}: {job.status}"]
    if job.archive_name:
        parts.append(f"archive {job.archive_name}")
    if job.nfiles is not None:
        parts.append(
            f"{job.nfiles} files, {human_size(job.original_size)} original, {human_size(job.deduplicated_size)} new"
        )
    if job.reason:
        parts.append(job.reason)
    return " — ".join(parts)


def run_summary(run) -> list[str]:
    """The status and reason, the duration, and a line per repository job."""
    lines = [f"Plan {run.plan.name}: {run.status}" + (f" ({run.reason})" if run.reason else "")]
    if run.duration is not None:
        lines.append(f"Duration: {human_duration(run.duration)}")
    return lines + [job_line(job) for job in run.jobs.select_related("repository").order_by("order", "id")]


def run_message(event, run) -> Message:
    plan = run.plan.name
    kind = EventKind(event.kind)
    title = f"borgui: {plan} {kind.value}"
    if kind == EventKind.START:
        lines = [f"Plan {plan} started ({run.trigger}) at {when(run.started or run.created)}."]
    else:
        lines = run_summary(run)
        label, tail = masked_tail(run)
        if tail:
            lines += ["", f"Output of {label} (last {len(tail)} lines):", *tail]
    url = link(run.get_absolute_url())
    if url:
        lines += ["", url]
    return Message(title, "\n".join(lines), kind.apprise_type, subject=f"run {run.pk} of {plan}")


def stale_message(event) -> Message:
    plan = event.plan
    details = event.details
    since = details.get("last_success")
    if since:
        last = f"the last successful run finished {since}"
    else:
        last = f"no successful run since the plan was created ({details.get('created', '?')})"
    lines = [
        f"Plan {plan.name} has had no successful backup for {human_duration(details.get('age_seconds'))} "
        f"(alert after {details.get('alert_after_hours')} h): {last}."
    ]
    url = link(plan.get_absolute_url())
    if url:
        lines += ["", url]
    return Message(f"borgui: {plan.name} stale", "\n".join(lines), "warning", subject=f"plan {plan.name}")


def containers_message(event, run) -> Message:
    plan = run.plan.name
    lines = [f"Run {run.pk} of plan {plan} stopped these containers and could not start them again:"]
    lines += [f"- {name}: {error}" for name, error in event.details.get("containers", [])]
    lines.append("The worker keeps trying every minute; start them by hand with `docker start NAME`.")
    url = link(run.get_absolute_url())
    if url:
        lines += ["", url]
    title = f"borgui: containers not started ({plan})"
    return Message(title, "\n".join(lines), "failure", subject=f"run {run.pk} of {plan}")


def other_message(event) -> Message:
    """restore, check, verify: the recording app gives the subject and the summary."""
    details = event.details
    kind = EventKind(event.kind)
    status = details.get("status", "failure")
    subject = details.get("subject") or str(event.repository or event.plan or "")
    title = f"borgui: {kind.value} {subject} {status}".replace("  ", " ")
    lines = [details.get("summary", "")]
    output = details.get("output", [])
    if output:
        lines += ["", "Output (last lines):", *output[-TAIL_LINES:]]
    url = link(details.get("path", ""))
    if url:
        lines += ["", url]
    return Message(title, "\n".join(lines).strip(), kind.apprise_type, subject=subject)


def render(event) -> Message:
    kind = EventKind(event.kind)
    if kind == EventKind.STALE:
        return stale_message(event)
    if kind == EventKind.CONTAINERS:
        return containers_message(event, event.run)
    if event.run is not None and (kind.is_run_status or kind == EventKind.START):
        return run_message(event, event.run)
    return other_message(event)


def test_message(channel) -> tuple[str, str]:
    return "borgui: test notification", f"A test notification from borgui to channel {channel.name}: it arrives."
