"""django-q2 tasks of the project app: they run on a worker, where hooks run."""

from system import report


def system_report() -> dict:
    """The worker's own system report (docs/docker-hooks.md#system-check), for the System page."""
    return report.report_as_dict(report.system_report())
