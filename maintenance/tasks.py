"""django-q2 task entry points (kept tiny: the work is in maintenance.services)."""


def execute_job(job_id: int) -> str:
    from maintenance.services import jobs

    return jobs.execute_queued(job_id)


def run_scheduled(kind: str, owner_id: int, slot: str | None = None) -> str:
    from maintenance.services import scheduling

    return scheduling.run_scheduled(kind, owner_id, slot)


def minute() -> str:
    """Every minute on the worker: finish jobs whose process died, re-arm lost schedules."""
    from maintenance.services import jobs, scheduling

    finished = jobs.finish_dead_jobs()
    rearmed = scheduling.rearm_missing()
    return f"{finished} job(s) finished as interrupted, {rearmed} schedule(s) re-armed"
