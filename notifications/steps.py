"""Where notifications meet a plan run: registered on the pipeline's step registry.

- at the run's start (before the plan's pre-backup hooks): the ``start`` event, ``GET /start``;
- after the containers were started again: the ``containers`` event when some are not;
- once the final status is saved: its event, the ping, and, for ``run_backup`` while no
  worker is alive, the delivery of the run's own events before the command exits.
Nothing here changes a run's status; errors are logged and the run goes on.
"""

import logging

from notifications.models import Event, EventKind, PlanMonitoring
from notifications.services import delivery, events, metrics, pings, workers
from repositories.models import PlanRun, Trigger
from repositories.services.steps import ChainOutcome, PartialSteps, StepContext
from repositories.status import Status

logger = logging.getLogger(__name__)


def _ping_url(ctx: StepContext) -> str:
    if "ping_url" not in ctx.notes:
        url = PlanMonitoring.objects.filter(plan_id=ctx.run.plan_id).values_list("ping_url", flat=True).first()
        ctx.notes["ping_url"] = url or ""
    return ctx.notes["ping_url"]


class NotificationSteps(PartialSteps):
    order = -100  # the start comes before the plan's pre-backup hooks

    def plan_pre(self, ctx: StepContext) -> ChainOutcome:
        if ctx.recovering:
            return ChainOutcome.OK
        url = _ping_url(ctx)
        if url:
            pings.ping_start(ctx.run, url)
        events.record(EventKind.START, run=ctx.run)
        return ChainOutcome.OK

    def run_finished(self, ctx: StepContext, status: Status) -> None:
        run = PlanRun.objects.select_related("plan").get(pk=ctx.run.pk)
        events.record(EventKind.for_run(status), run=run)
        try:
            metrics.refresh_run(run)
        except Exception:
            logger.exception("could not refresh the metrics of run %s", run.pk)
        url = _ping_url(ctx)
        if url:
            pings.ping_end(run, url)
        if run.trigger == Trigger.CLI and not ctx.recovering and not workers.worker_alive():
            delivery.deliver_pending_of_run(run)


class ContainerAlertSteps(PartialSteps):
    order = 200  # after the container stop's own after-run step (order 100) started them again

    def after_run(self, ctx: StepContext) -> None:
        not_started = [r for r in ctx.run.container_stops.order_by("id") if r.stopped_at and not r.started_at]
        if not not_started or Event.objects.filter(run=ctx.run, kind=EventKind.CONTAINERS).exists():
            return
        details = {"containers": [[record.name, record.start_error or "not started"] for record in not_started]}
        events.record(EventKind.CONTAINERS, run=ctx.run, details=details)
