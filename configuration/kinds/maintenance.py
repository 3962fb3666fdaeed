"""Maintenance keys (docs/maintenance.md), kept beside repositories and plans: a
repository's ``check``, ``compact`` and ``compact_after_prune``; a plan's ``verify`` and
``drill``. Used by the repositories and plans kinds."""

from configuration import base, schema
from configuration.base import Flow, FlowList
from configuration.kinds import hooks
from configuration.problems import Problem, key_path
from hooks.models import HookAttachment
from maintenance.models import PlanMaintenance, RepositoryMaintenance

_SCHEDULE = {"schedule": schema.Text(), "timezone": schema.Text()}
REPOSITORY_SHAPE = {
    "check": schema.Mapping({**_SCHEDULE, "verify_data": schema.Bool(), "max_duration": schema.Int()}),
    "compact": schema.Mapping(dict(_SCHEDULE)),
    "compact_after_prune": schema.Bool(),
}
PLAN_SHAPE = {
    "verify": schema.Mapping(
        {**_SCHEDULE, "sample_percent": schema.Number(), "count_tolerance_percent": schema.Number()}
    ),
    "drill": schema.Mapping(
        {"script": schema.Text(), "paths": schema.ListOf(schema.Text()), **_SCHEDULE,
         "parameters": schema.NamedValues(schema.ParameterValue())},
        required=["script"],
    ),
}  # fmt: skip
# model field → key path in the file
REPOSITORY_KEYS = {
    "check_schedule": "check.schedule", "check_timezone": "check.timezone", "check_verify_data": "check.verify_data",
    "check_max_duration": "check.max_duration", "compact_schedule": "compact.schedule",
    "compact_timezone": "compact.timezone", "compact_after_prune": "compact_after_prune",
}  # fmt: skip
PLAN_KEYS = {
    "verify_schedule": "verify.schedule", "verify_timezone": "verify.timezone",
    "sample_percent": "verify.sample_percent", "count_tolerance_percent": "verify.count_tolerance_percent",
    "drill_paths": "drill.paths", "drill_schedule": "drill.schedule", "drill_timezone": "drill.timezone",
    "drill_parameter_values": "drill.parameters",
}  # fmt: skip


def _nested(data: dict, key: str, default):
    section, _, name = key.rpartition(".")
    return (data.get(section, {}) if section else data).get(name, default)


def _sections(changes: list[str]) -> list[str]:
    return sorted({key.partition(".")[0] for key in changes})


def prepare_repository(applier, item) -> None:
    settings = None if item.new else RepositoryMaintenance.objects.filter(repository=item.obj).first()
    settings = settings or RepositoryMaintenance()
    before = base.state(settings, REPOSITORY_KEYS)
    for name, key in REPOSITORY_KEYS.items():
        setattr(settings, name, _nested(item.data, key, base.default(RepositoryMaintenance, name)))
    applier.problems += base.full_clean(settings, item.path, REPOSITORY_KEYS, exclude=["repository"])
    item.changes += _sections(base.changes(before, base.state(settings, REPOSITORY_KEYS), REPOSITORY_KEYS))
    item.maintenance = settings


def prepare_plan(applier, item) -> None:
    found = None if item.new else PlanMaintenance.objects.filter(plan=item.obj).select_related("drill_script").first()
    settings = found or PlanMaintenance()
    script = settings.drill_script.name if settings.drill_script_id else None
    before = {**base.state(settings, PLAN_KEYS), "script": script}
    for name, key in PLAN_KEYS.items():
        if name != "drill_parameter_values":
            setattr(settings, name, _nested(item.data, key, base.default(PlanMaintenance, name)))
    drill = item.data.get("drill")
    settings.set_drill_values({k: v for k, v in (drill or {}).get("parameters", {}).items() if v != ""})
    # The script may be one this file creates: it is set in write; its parameters are checked here.
    settings.drill_script_pending = drill is not None
    settings.drill_script = None
    keys = {**PLAN_KEYS, "drill_script": "drill.script"}
    applier.problems += base.full_clean(settings, item.path, keys, exclude=["plan", "drill_script"])
    if drill is not None:
        path = key_path(item.path, "drill")
        applier.reference(drill, "script", "scripts", "script", path)
        declared = hooks.declared_parameters(applier, drill["script"])
        carrier = HookAttachment(parameter_values=settings.drill_parameter_values)
        problem = carrier.undeclared_values_problem(drill["script"], declared) if declared is not None else ""
        if problem:
            applier.problems.append(Problem(key_path(path, "parameters"), problem))
    after = {**base.state(settings, PLAN_KEYS), "script": drill["script"] if drill else None}
    item.changes += _sections(base.changes(before, after, {**PLAN_KEYS, "script": "drill.script"}))
    item.maintenance = settings
    item.drill_script = drill["script"] if drill else None


def write(applier, item, owner_field: str) -> None:
    """Save (or, when it holds only defaults, delete) the object's maintenance settings."""
    settings = item.maintenance
    keys = REPOSITORY_KEYS if owner_field == "repository" else PLAN_KEYS
    if not set(_sections(list(keys.values())) + ["drill"]) & set(item.changes):
        return
    setattr(settings, owner_field, item.obj)
    if owner_field == "plan":
        settings.drill_script = applier.objects("scripts")[item.drill_script] if item.drill_script else None
    if not settings.is_default:
        settings.save()
    elif settings.pk:
        settings.delete()


def _schedule(cron: str, zone: str) -> Flow:
    out = Flow()
    if cron:
        out["schedule"] = cron
    if zone:
        out["timezone"] = zone
    return out


def _number(value: float):
    """5.0 is written 5, as a person would write it."""
    return int(value) if float(value).is_integer() else value


def export_repository(repository) -> dict:
    settings = getattr(repository, "maintenance", None)  # none: an AttributeError
    if settings is None:
        return {}
    out = {}
    check = _schedule(settings.check_schedule, settings.check_timezone)
    if settings.check_verify_data:
        check["verify_data"] = True
    if settings.check_max_duration:
        check["max_duration"] = settings.check_max_duration
    if check:
        out["check"] = check
    compact = _schedule(settings.compact_schedule, settings.compact_timezone)
    if compact:
        out["compact"] = compact
    if not settings.compact_after_prune:
        out["compact_after_prune"] = False
    return out


def export_plan(exporter, plan) -> dict:
    settings = getattr(plan, "maintenance", None)
    if settings is None:
        return {}
    out = {}
    if not settings.verify_is_default:
        verify = _schedule(settings.verify_schedule, settings.verify_timezone)
        verify["sample_percent"] = _number(settings.sample_percent)
        verify["count_tolerance_percent"] = _number(settings.count_tolerance_percent)
        out["verify"] = verify
    if settings.drill_script_id:
        script = settings.drill_script
        drill = {"script": script.name}
        if settings.drill_paths:
            drill["paths"] = FlowList(settings.drill_paths)
        drill.update(_schedule(settings.drill_schedule, settings.drill_timezone))
        values = hooks.export_values(
            script, settings.drill_values(),
            lambda name: exporter.ref(
                ("plan", plan.name, "drill", name), f"{name} of the restore drill ({script.name}) of plan {plan.name}",
                parts=["PLAN", plan.name, "DRILL", name],
            ),
        )  # fmt: skip
        if values:
            drill["parameters"] = Flow(values)
        out["drill"] = drill
    return out
