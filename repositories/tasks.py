"""django-q2 task entry points (kept tiny: the work is in repositories.services)."""

from repositories.services import recovery, runs, scheduling


def execute_run(run_id: int) -> str:
    return runs.execute_queued(run_id)


def run_scheduled_plan(plan_id: int, slot: str | None = None) -> str:
    return runs.run_scheduled(plan_id, slot)


def recover_runs() -> str:
    recovered = recovery.recover_runs()
    rearmed = scheduling.rearm_missing()
    return f"{len(recovered)} run(s) recovered, {rearmed} schedule(s) re-armed"
