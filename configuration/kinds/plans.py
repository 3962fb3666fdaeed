"""``plans:`` entries: a backup plan, its repositories in order, retention and hooks."""

from configuration import base, schema
from configuration.base import Flow, FlowList
from configuration.kinds import hooks, maintenance
from configuration.problems import Problem, index_path, key_path
from notifications.models import PlanMonitoring
from repositories.models import BackupPlan, OnRepositoryFailure, PlanRepository, SourcesOn
from repositories.services.retention import plan_repository_problems

SECTION, KIND, MODEL = "plans", "plan", BackupPlan
HAS_STOP_CONTAINERS = any(field.name == "stop_containers" for field in BackupPlan._meta.get_fields())
# model field → key in the file
KEYS = {
    **{f: f for f in ("name", "sources", "excludes", "compression", "archive_name", "schedule", "timezone")},
    **{f: f for f in ("enabled", "on_repository_failure", "source_connection", "sources_on")},
    **{f: f"retention.{f}" for f in BackupPlan.RETENTION_FIELDS},
    **({"stop_containers": "stop_containers"} if HAS_STOP_CONTAINERS else {}),
}
# notifications.PlanMonitoring field → key (the ping URL is a secret: ping_url, _env or _file)
MONITORING_KEYS = {"ping_url": "ping_url", "alert_after_hours": "alert_after_hours"}
RETENTION = schema.Mapping(
    {key: (schema.Text() if key == "keep_within" else schema.Int()) for key in BackupPlan.RETENTION_FIELDS}
)
SHAPE = schema.Mapping(
    {
        "name": schema.Text(),
        "repositories": schema.ListOf(schema.Text()),
        "sources": schema.ListOf(schema.Text()),
        "excludes": schema.ListOf(schema.Text()),
        "compression": schema.Text(),
        "archive_name": schema.Text(),
        "schedule": schema.Text(),
        "timezone": schema.Text(),
        "enabled": schema.Bool(),
        "on_repository_failure": schema.Choice(OnRepositoryFailure.values),
        "source_connection": schema.Text(),
        "sources_on": schema.Choice(SourcesOn.values),
        "retention": RETENTION,
        **({"stop_containers": schema.ListOf(schema.Text())} if HAS_STOP_CONTAINERS else {}),
        "alert_after_hours": schema.Int(),
        **maintenance.PLAN_SHAPE,
        "hooks": hooks.SHAPE,
    },
    required=["name"],
    secrets=[schema.SecretSource("ping_url")],
)


def prepare(applier, index: int, data: dict) -> None:
    item = applier.item(SECTION, index, data, BackupPlan)
    obj = item.obj
    before = base.state(obj, KEYS)
    retention = data.get("retention", {})
    for name, key in KEYS.items():
        if name == "source_connection":
            continue
        given = retention if key.startswith("retention.") else data
        setattr(obj, name, given.get(name, base.default(BackupPlan, name)))
    applier.problems += base.full_clean(obj, item.path, KEYS, exclude=["source_connection"])
    applier.reference(data, "source_connection", "ssh_connections", "SSH connection", item.path)
    item.source_connection = data.get("source_connection")
    item.changes = base.changes(before, base.state(obj, KEYS, data.get("source_connection")), KEYS)
    if any(key.startswith("retention.") for key in item.changes):
        item.changes = [k for k in item.changes if not k.startswith("retention.")] + ["retention"]
    repositories = data.get("repositories", [])
    seen = set()
    for j, name in enumerate(repositories):
        path = index_path(key_path(item.path, "repositories"), j)
        if name in seen:
            applier.problems.append(Problem(path, f"{name} is listed twice"))
        seen.add(name)
        if name not in applier.known("repositories"):
            applier.problems.append(Problem(path, f"no repository named {name}"))
    item.repositories = repositories
    current = [] if item.new else [r.name for r in obj.ordered_repositories()]
    if current != repositories:
        item.changes.append("repositories")
    _prepare_monitoring(applier, item)
    maintenance.prepare_plan(applier, item)
    hooks.prepare(applier, item)
    applier.items[SECTION].append(item)


def _prepare_monitoring(applier, item) -> None:
    """The plan's ping_url and alert_after_hours (kept beside it, notifications.PlanMonitoring)."""
    data = item.data
    monitoring = None if item.new else PlanMonitoring.objects.filter(plan=item.obj).first()
    monitoring = monitoring or PlanMonitoring()
    before = base.state(monitoring, MONITORING_KEYS)
    keys = dict(MONITORING_KEYS)
    if "ping_url" in data:  # not given: the stored one is kept (as in the admin)
        monitoring.ping_url = data["ping_url"].value
        keys["ping_url"] = data["ping_url"].key
    monitoring.alert_after_hours = data.get("alert_after_hours")
    applier.problems += base.full_clean(monitoring, item.path, keys, exclude=["plan"])
    item.changes += base.changes(before, base.state(monitoring, MONITORING_KEYS), MONITORING_KEYS)
    item.monitoring = monitoring


def _write_monitoring(item) -> None:
    monitoring = item.monitoring
    if not any(key in item.changes for key in MONITORING_KEYS.values()):
        return
    monitoring.plan = item.obj
    if not monitoring.is_empty:
        monitoring.save()
    elif monitoring.pk:
        monitoring.delete()


def write(applier) -> None:
    connections = applier.objects("ssh_connections")
    repositories = applier.objects("repositories")
    for item in applier.items[SECTION]:
        plan = item.obj
        name = item.source_connection
        plan.source_connection = connections[name] if name else None
        if not applier.save(item, KEYS):
            continue
        if "repositories" in item.changes:
            plan.repository_links.all().delete()
            PlanRepository.objects.bulk_create(
                PlanRepository(plan=plan, repository=repositories[name], order=order)
                for order, name in enumerate(item.repositories)
            )
        _write_monitoring(item)
        maintenance.write(applier, item, "plan")
        hooks.write(applier, item, "plan")


def check(applier) -> None:
    """The admin's checks of a plan's repositories, with every plan of the file in place."""
    for item in applier.items[SECTION]:
        repositories = item.obj.ordered_repositories()
        for problem in plan_repository_problems(item.obj, repositories):
            applier.problems.append(Problem(key_path(item.path, "repositories"), problem))


def queryset():
    return BackupPlan.objects.select_related("source_connection", "monitoring", "maintenance__drill_script")


def export(exporter, plan: BackupPlan) -> dict:
    out = {
        "name": plan.name,
        "repositories": FlowList(r.name for r in plan.ordered_repositories()),
        "sources": FlowList(plan.sources),
    }
    if plan.excludes:
        out["excludes"] = FlowList(plan.excludes)
    out.update(compression=plan.compression, archive_name=plan.archive_name)
    if plan.schedule:
        out["schedule"] = plan.schedule
    if plan.timezone:
        out["timezone"] = plan.timezone
    out.update(enabled=plan.enabled, on_repository_failure=plan.on_repository_failure)
    if plan.source_connection_id:
        out["source_connection"] = plan.source_connection.name
    out["sources_on"] = plan.sources_on
    retention = Flow(
        (name, getattr(plan, name)) for name in BackupPlan.RETENTION_FIELDS if getattr(plan, name) not in (None, "")
    )
    if retention:
        out["retention"] = retention
    if HAS_STOP_CONTAINERS and plan.stop_containers:
        out["stop_containers"] = FlowList(plan.stop_containers)
    monitoring = getattr(plan, "monitoring", None)  # a plan without one raises an AttributeError
    if monitoring is not None and monitoring.ping_url:
        out["ping_url_env"] = exporter.ref(("plan", plan.name, "ping_url"), f"ping URL of plan {plan.name}")
    if monitoring is not None and monitoring.alert_after_hours is not None:
        out["alert_after_hours"] = monitoring.alert_after_hours
    out.update(maintenance.export_plan(exporter, plan))
    out["hooks"] = hooks.export(exporter, plan, "plan")
    return out
