"""django-q2 tasks of the project app: they run on a worker, where hooks run."""


def system_report() -> dict:
    """The worker's own system report (SPEC §7), for the System page."""
    from borgui.system import report_as_dict, system_report

    return report_as_dict(system_report())
