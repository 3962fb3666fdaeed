"""The `restore` event (docs/notifications.md): recorded once when a restore job reaches
its final status (archives.signals.restore_finished), for the channels of the plans that
use the job's repository."""

from common.humanize import human_size
from common.text import mask
from notifications.models import Event, EventKind
from notifications.services import events
from notifications.services.messages import TAIL_LINES


def restore_summary(job) -> str:
    what = ", ".join(job.paths) if job.paths else "the whole archive"
    lines = [
        f"Restore {job.pk} of {job.repository.name}::{job.archive_name}: {job.status}"
        + (f" ({job.reason})" if job.reason else ""),
        f"Paths: {what}",
        f"Target: {job.target}" + (f" on {job.host}" if job.host else "") + (" (dry run)" if job.dry_run else ""),
        f"Restored: {job.files_done} of {job.files_total if job.files_total is not None else '?'} files, "
        f"{human_size(job.bytes_done)} of {human_size(job.bytes_total) if job.bytes_total is not None else '?'}",
    ]
    return "\n".join(lines)


def log_tail(job) -> list[str]:
    """The last lines of the job's log, masked with its repository's passphrase."""
    lines = [line for line in (job.log or "").splitlines() if line.strip()][-TAIL_LINES:]
    secrets = [job.repository.passphrase] if job.repository.passphrase else []
    return mask("\n".join(lines), secrets).splitlines() if lines else []


def record_restore(sender, job, **kwargs) -> Event | None:
    if Event.objects.filter(restore_job=job).exists():
        return None
    details = {
        "status": job.status,
        "subject": job.archive_name,
        "summary": restore_summary(job),
        "output": log_tail(job),
        "path": job.get_absolute_url(),
    }
    return events.record(EventKind.RESTORE, repository=job.repository, restore_job=job, details=details)
