import logging

from repositories.services import scheduling

logger = logging.getLogger(__name__)


def plan_saved(sender, instance, raw=False, **kwargs):
    if not raw:
        scheduling.sync_schedule(instance)


def plan_deleted(sender, instance, **kwargs):
    scheduling.remove_schedule(instance)


def worker_started(sender, proc_name=None, **kwargs):
    """Each worker process, at start: recover the runs a dead worker left behind. (The
    every-minute recovery is a schedule made by a migration.)"""
    from django_q.tasks import async_task

    try:
        async_task("repositories.tasks.recover_runs", q_options={"group": "borgui:recover_runs"})
    except Exception:
        logger.exception("could not queue run recovery at worker start")
