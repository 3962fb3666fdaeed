"""What a finished maintenance job tells (docs/notifications.md): a failure is a `check`
event (check, compact) or a `verify` event (verify, drill); a check that ran sets
borgui_repository_last_check_timestamp_seconds."""

from common.text import mask
from maintenance.models import MaintenanceJob, MaintenanceKind
from repositories.status import Status


def _secrets(job: MaintenanceJob) -> list[str]:
    repositories = [job.repository] if job.repository else (job.plan.ordered_repositories() if job.plan else [])
    secrets = [r.passphrase for r in repositories if r and r.passphrase]
    maintenance = getattr(job.plan, "maintenance", None) if job.plan else None
    if maintenance is not None and maintenance.drill_script_id:
        secret_names = set(maintenance.drill_script.parameters.filter(secret=True).values_list("name", flat=True))
        values = maintenance.drill_values()
        secrets += [values[name] for name in secret_names if values.get(name)]
    return secrets


def job_finished(job: MaintenanceJob, outcome) -> None:
    from notifications.services import events, metrics

    kind = MaintenanceKind(job.kind)
    if kind == MaintenanceKind.CHECK and job.repository is not None and job.finished:
        metrics.set_repository_values(
            job.repository, borgui_repository_last_check_timestamp_seconds=job.finished.timestamp()
        )
    if outcome.status != Status.FAILURE:
        return
    secrets = _secrets(job)
    summary = f"{kind.value.capitalize()} of {job.subject}: failure" + (f" ({job.reason})" if job.reason else "")
    details = {
        "status": Status.FAILURE.value,
        "subject": job.subject
        if kind in (MaintenanceKind.CHECK, MaintenanceKind.VERIFY)
        else f"{kind.value} {job.subject}",
        "summary": mask(summary, secrets),
        "output": mask("\n".join(outcome.output), secrets).splitlines() if outcome.output else [],
        "path": job.get_absolute_url(),
        "job": job.pk,
    }
    plan = job.plan if kind.per_plan else None
    repository = None if kind.per_plan else job.repository
    events.record(kind.event_kind, plan=plan, repository=repository, details=details)
