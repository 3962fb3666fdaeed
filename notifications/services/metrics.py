"""Prometheus metrics (docs/notifications.md), cheap whatever the history's length.

Values that need the whole history (run counts, the last run of each plan, hook failures,
containers left stopped) are kept as MetricValue rows: refreshed for a plan when one of
its runs finishes, and all of them by the worker every minute (which also catches runs
finished elsewhere: a cancelled queued run, an expired one, a skipped slot). A scrape
reads those rows and counts the running runs: a fixed number of queries.
"""

import hmac
from collections import defaultdict

from django.db import transaction
from django.db.models import Count, OuterRef, Q, Subquery

from hooks.models import ExecutionState, ScriptExecution
from notifications.models import MetricValue
from repositories.models import BackupPlan, ContainerStop, PlanRun
from repositories.status import Status

FINAL = [Status.SUCCESS.value, Status.WARNING.value, Status.FAILURE.value, Status.SKIPPED.value]
ALL_SCOPE = "all"

# name: (type, help, label names)
FAMILIES = {
    "borgui_plan_last_run_timestamp_seconds": ("gauge", "When the plan's last finished run finished.", ["plan"]),
    "borgui_plan_last_success_timestamp_seconds": ("gauge", "When the plan's last successful run finished.", ["plan"]),
    "borgui_plan_last_run_status": ("gauge", "1 for the status of the plan's last finished run.", ["plan", "status"]),
    "borgui_plan_last_run_duration_seconds": ("gauge", "How long the plan's last finished run took.", ["plan"]),
    "borgui_runs_total": ("counter", "Finished runs of the plan by status.", ["plan", "status"]),
    "borgui_runs_running": ("gauge", "Runs pending, waiting or running now.", []),
    "borgui_repository_archives": ("gauge", "Archives in the repository.", ["repository"]),
    "borgui_repository_deduplicated_bytes": (
        "gauge",
        "borg's unique compressed size of the repository (last create or info).",
        ["repository"],
    ),
    "borgui_repository_last_check_timestamp_seconds": ("gauge", "When borg check last ran.", ["repository"]),
    "borgui_hook_failures_total": ("counter", "Failed hook runs of backups by script (tests excluded).", ["script"]),
    "borgui_containers_stopped": ("gauge", "Containers a run stopped that are not running again yet.", []),
}


def plan_scope(plan_id: int) -> str:
    return f"plan:{plan_id}"


def script_scope(name: str) -> str:
    return f"script:{name}"[:120]


def repository_scope(repository_id: int) -> str:
    return f"repository:{repository_id}"


def _sample(scope: str, metric: str, value, **labels) -> MetricValue:
    return MetricValue(scope=scope, metric=metric, labels=labels, value=float(value))


# --- computing the stored values (on the worker) ----------------------------------------


def _plan_samples(plans) -> list[MetricValue]:
    finished = PlanRun.objects.filter(plan=OuterRef("pk"), status__in=FINAL, finished__isnull=False)
    last = finished.order_by("-finished", "-id")
    last_success = finished.filter(status=Status.SUCCESS).order_by("-finished", "-id")
    plans = plans.annotate(
        last_finished=Subquery(last.values("finished")[:1]),
        last_started=Subquery(last.values("started")[:1]),
        last_status=Subquery(last.values("status")[:1]),
        last_success=Subquery(last_success.values("finished")[:1]),
    )
    counts = defaultdict(int)
    plan_list = list(plans)
    rows = PlanRun.objects.filter(plan__in=[p.pk for p in plan_list], status__in=FINAL)
    for row in rows.values("plan_id", "status").annotate(n=Count("id")):
        counts[row["plan_id"], row["status"]] = row["n"]
    samples = []
    for plan in plan_list:
        scope, name = plan_scope(plan.pk), plan.name
        samples += [_sample(scope, "borgui_runs_total", counts[plan.pk, s], plan=name, status=s) for s in FINAL]
        if plan.last_finished is None:
            continue
        samples.append(
            _sample(scope, "borgui_plan_last_run_timestamp_seconds", plan.last_finished.timestamp(), plan=name)
        )
        samples += [
            _sample(scope, "borgui_plan_last_run_status", int(plan.last_status == s), plan=name, status=s)
            for s in FINAL
        ]
        if plan.last_started is not None:
            duration = (plan.last_finished - plan.last_started).total_seconds()
            samples.append(_sample(scope, "borgui_plan_last_run_duration_seconds", duration, plan=name))
        if plan.last_success is not None:
            samples.append(
                _sample(scope, "borgui_plan_last_success_timestamp_seconds", plan.last_success.timestamp(), plan=name)
            )
    return samples


def _failed_hooks():
    failed = Q(exit_code__isnull=True) | ~Q(exit_code=0) | Q(timed_out=True) | ~Q(error="")
    return ScriptExecution.objects.filter(failed, state=ExecutionState.DONE, run__isnull=False).exclude(
        hook_type="test"
    )


def _script_samples(names: list[str] | None = None) -> list[MetricValue]:
    executions = _failed_hooks()
    if names is not None:
        executions = executions.filter(script_name__in=names)
    counts = executions.values("script_name").annotate(n=Count("id"))
    return [
        _sample(script_scope(row["script_name"]), "borgui_hook_failures_total", row["n"], script=row["script_name"])
        for row in counts
    ]


def _global_samples() -> list[MetricValue]:
    stopped = ContainerStop.objects.filter(stopped_at__isnull=False, started_at__isnull=True).count()
    return [_sample(ALL_SCOPE, "borgui_containers_stopped", stopped)]


def _replace(scopes: Q, samples: list[MetricValue]) -> None:
    with transaction.atomic():
        MetricValue.objects.filter(scopes).delete()
        MetricValue.objects.bulk_create(samples)


def refresh_run(run) -> None:
    """After one run finished: its plan, the scripts that failed in it, the containers."""
    names = list(_failed_hooks().filter(run=run).values_list("script_name", flat=True).distinct())
    scopes = [plan_scope(run.plan_id), ALL_SCOPE, *(script_scope(name) for name in names)]
    samples = _plan_samples(BackupPlan.objects.filter(pk=run.plan_id)) + _global_samples()
    _replace(Q(scope__in=scopes), samples + (_script_samples(names) if names else []))


def refresh_all() -> int:
    """Everything again from the history (the worker's minute task)."""
    samples = _plan_samples(BackupPlan.objects.all()) + _script_samples() + _global_samples()
    _replace(Q(scope__startswith="plan:") | Q(scope__startswith="script:") | Q(scope=ALL_SCOPE), samples)
    return len(samples)


def set_repository_values(repository, **values) -> None:
    """For the apps that learn a repository's state (archives, check): e.g.
    ``set_repository_values(repo, borgui_repository_archives=12)``."""
    scope = repository_scope(repository.pk)
    for metric, value in values.items():
        MetricValue.objects.update_or_create(
            scope=scope, metric=metric, defaults={"labels": {"repository": repository.name}, "value": float(value)}
        )


# --- serving them ------------------------------------------------------------------------


def token_matches(expected: str, authorization: str) -> bool:
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not expected:
        return False
    return hmac.compare_digest(given.strip().encode(), expected.encode())


def exposition() -> bytes:
    """The Prometheus text format of every family: two queries."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    families = {}
    for name, (kind, help_text, labels) in FAMILIES.items():
        family_class = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
        families[name] = (family_class(name, help_text, labels=labels), labels)
    for row in MetricValue.objects.values_list("metric", "labels", "value").order_by("metric", "id"):
        metric, labels, value = row
        if metric in families:
            family, names = families[metric]
            family.add_metric([str(labels.get(label, "")) for label in names], value)
    running = PlanRun.objects.filter(status__in=Status.active_values()).count()
    families["borgui_runs_running"][0].add_metric([], running)

    class Collector:
        def collect(self):
            for family, _labels in families.values():
                yield family

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Collector())
    return generate_latest(registry)
