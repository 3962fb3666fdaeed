"""The ``hooks:`` of a repository or a plan: attachments of library scripts, per hook type."""

from django.core.exceptions import ValidationError

from configuration import base, schema
from configuration.base import Flow, HookEntry, Item
from configuration.problems import Problem, index_path, key_path
from hooks.models import HookAttachment, OnFailure, RunOn, Script
from repositories.status import HookType

HOOK_TYPES = tuple(HookType.values)
# model field → key in the file
KEYS = {
    "script": "script",
    "timeout": "timeout",
    "on_failure": "on_failure",
    "run_on": "run_on",
    "enabled": "enabled",
    "parameter_values": "parameters",
}
HOOK = schema.Mapping(
    {
        "script": schema.Text(),
        "on_failure": schema.Choice(OnFailure.values),
        "run_on": schema.Choice(RunOn.values),
        "timeout": schema.Int(),
        "enabled": schema.Bool(),
        "parameters": schema.NamedValues(schema.ParameterValue()),
    },
    required=["script"],
)
SHAPE = schema.Mapping({hook_type: schema.ListOf(HOOK) for hook_type in HOOK_TYPES})


def prepare(applier, item: Item) -> None:
    hooks = item.data.get("hooks")
    if hooks is None:
        return  # not given: the object's attachments are left as they are
    item.hooks = {}
    for hook_type in HOOK_TYPES:
        if hook_type not in hooks:
            continue
        prepared = []
        for index, data in enumerate(hooks[hook_type]):
            path = index_path(key_path(key_path(item.path, "hooks"), hook_type), index)
            attachment = HookAttachment(
                hook_type=hook_type,
                enabled=data.get("enabled", base.default(HookAttachment, "enabled")),
                timeout=data.get("timeout"),
                on_failure=data.get("on_failure", ""),
                run_on=data.get("run_on", ""),
            )
            # Empty values are left out, as the admin does: the parameter's default applies.
            attachment.set_values({k: v for k, v in data.get("parameters", {}).items() if v != ""})
            applier.problems += base.full_clean(attachment, path, KEYS, exclude=["script", "repository", "plan"])
            applier.reference(data, "script", "scripts", "script", path)
            declared = declared_parameters(applier, data["script"])
            if declared is not None:
                problem = attachment.undeclared_values_problem(data["script"], declared)
                if problem:
                    applier.problems.append(Problem(key_path(path, "parameters"), problem))
            prepared.append(HookEntry(path, data["script"], attachment))
        item.hooks[hook_type] = prepared


def declared_parameters(applier, script_name: str) -> set[str] | None:
    """The parameter names SCRIPT will declare once applied: as the file gives them, else
    as stored (None: no such script, reported by the reference check)."""
    for data in applier.doc.get("scripts", []):
        if data["name"] == script_name:
            return {parameter["name"] for parameter in data.get("parameters", [])}
    script = applier.existing["scripts"].get(script_name)
    return None if script is None else {parameter.name for parameter in script.parameters.all()}


def write(applier, item: Item, owner_field: str) -> None:
    if item.hooks is None:
        return
    scripts = applier.objects("scripts")
    owner = item.obj
    for hook_type, hooks in item.hooks.items():
        current = list(
            HookAttachment.objects.filter(**{owner_field: owner}, hook_type=hook_type).order_by("order", "id")
        )
        if len(current) == len(hooks) and all(
            _same_attachment(a, h.attachment, scripts[h.script]) for a, h in zip(current, hooks, strict=True)
        ):
            continue
        item.changes.append(f"hooks.{hook_type}")
        for order, hook in enumerate(hooks):
            attachment = current[order] if order < len(current) else HookAttachment()
            wanted = hook.attachment
            attachment.script = scripts[hook.script]
            setattr(attachment, owner_field, owner)
            attachment.hook_type = HookType(hook_type)
            attachment.order = order
            for name in ("enabled", "timeout", "on_failure", "run_on", "parameter_values"):
                setattr(attachment, name, getattr(wanted, name))
            try:
                attachment.full_clean()
            except ValidationError as e:
                applier.problems += base.problems_of(e, hook.path, KEYS)
                continue
            attachment.save()
        for surplus in current[len(hooks) :]:
            surplus.delete()


def _same_attachment(current: HookAttachment, wanted: HookAttachment, script: Script) -> bool:
    return (
        current.script_id == script.pk
        and current.enabled == wanted.enabled
        and current.timeout == wanted.timeout
        and current.effective_on_failure == wanted.effective_on_failure
        and (
            current.effective_run_on == wanted.effective_run_on
            if wanted.hook_type == HookType.POST_BACKUP
            else current.run_on == wanted.run_on
        )
        and current.values() == wanted.values()
    )


def export(exporter, owner, kind: str) -> dict:
    attachments = (
        HookAttachment.objects.filter(**{kind: owner})
        .select_related("script")
        .prefetch_related("script__parameters")
        .order_by("order", "id")
    )
    out = {}
    for hook_type in HookType.values:
        of_type = (a for a in attachments if a.hook_type == hook_type)
        out[hook_type] = [_export_entry(exporter, a, owner, kind, position) for position, a in enumerate(of_type, 1)]
    return out


def _export_entry(exporter, attachment: HookAttachment, owner, kind: str, position: int) -> Flow:
    hook_type = attachment.hook_type
    script = attachment.script
    # docs/configuration.md#the-file: {script, on_failure, …} pre, {script, run_on, on_failure, …} post.
    entry = Flow(script=script.name)
    if hook_type == HookType.POST_BACKUP:
        entry["run_on"] = attachment.effective_run_on
    entry["on_failure"] = attachment.effective_on_failure
    if attachment.timeout is not None:
        entry["timeout"] = attachment.timeout
    entry["enabled"] = attachment.enabled
    values = export_values(
        script, attachment.values(),
        lambda name: exporter.ref(
            (kind, owner.name, hook_type, str(position), name),
            f"{name} of the {hook_type} hook {position} ({script.name}) of {kind} {owner.name}",
            parts=["ATTACHMENT", kind, owner.name, hook_type, str(position), name],
        ),
    )  # fmt: skip
    if values:
        entry["parameters"] = values
    return entry


def export_values(script: Script, values: dict[str, str], secret_ref) -> dict:
    """A script's parameter values as written: secret ones as {env: VARIABLE}. Values of
    parameters the script no longer declares are not used (and apply_config would refuse
    them): they are left out."""
    declared = {p.name: p for p in script.parameters.all()}
    out = {}
    for name, value in sorted(values.items()):
        if name in declared:
            out[name] = {"env": secret_ref(name)} if declared[name].secret else value
    return out
