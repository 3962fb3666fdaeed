"""Where notifications meet a plan run: registered on the pipeline's step registry.

- at the run's start (before the plan's pre-backup hooks): the ``start`` event, ``GET /start``;
- once the final status is saved (after the containers were started again): its event,
  the ``containers`` event when some are still stopped, the metrics, the ping, and, for
  ``run_backup`` while no worker is alive, the delivery of the run's events before it exits.
Nothing here changes a run's status; errors are logged and the run goes on.
"""

import logging

from notifications.models import Event, EventKind, PlanMonitoring
from notifications.services import delivery, events, metrics, pings, workers
from repositories.models import PlanRun, Trigger
from repositories.services.steps import PartialSteps, StepContext
from repositories.status import ChainOutcome, Status

logger = logging.getLogger(__name__)


def _ping_url(run) -> str:
    return PlanMonitoring.objects.filter(plan_id=run.plan_id).values_list("ping_url", flat=True).first() or ""


def _record_containers_not_started(run) -> None:
    """After the run's own start retries (the after-run steps came before): once per run."""
    not_started = [r for r in run.container_stops.order_by("id") if r.stopped_at and not r.started_at]
    if not not_started or Event.objects.filter(run=run, kind=EventKind.CONTAINERS).exists():
        return
    details = {"containers": [[record.name, record.start_error or "not started"] for record in not_started]}
    events.record(EventKind.CONTAINERS, run=run, details=details)


class NotificationSteps(PartialSteps):
    order = -100  # the start comes before the plan's pre-backup hooks

    def plan_pre(self, ctx: StepContext) -> ChainOutcome:
        if ctx.recovering:
            return ChainOutcome.OK
        url = _ping_url(ctx.run)
        if url:
            pings.ping_start(ctx.run, url)
        events.record(EventKind.START, run=ctx.run)
        return ChainOutcome.OK

    def run_finished(self, ctx: StepContext, status: Status) -> None:
        run = PlanRun.objects.select_related("plan").get(pk=ctx.run.pk)
        events.record(EventKind.for_run(status), run=run)
        _record_containers_not_started(run)
        try:
            metrics.refresh_run(run)
        except Exception:
            logger.exception("could not refresh the metrics of run %s", run.pk)
        url = _ping_url(run)
        if url:
            pings.ping_end(run, url)
        if run.trigger == Trigger.CLI and not ctx.recovering and not workers.worker_alive():
            delivery.deliver_pending_of_run(run)
