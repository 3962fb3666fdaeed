"""``scripts:`` entries: a library script with its declared parameters and review state."""

from configuration import base, schema
from configuration.base import Flow, Item
from configuration.problems import Problem, index_path, key_path
from hooks.forms import as_typed
from hooks.models import ExecutionTarget, Script, ScriptParameter

SECTION, KIND, MODEL = "scripts", "script", Script
APPROVER = "apply_config"
# model field → key in the file
KEYS = {f: f for f in ("name", "description", "body", "timeout", "execution_target")}
PARAMETER_KEYS = {f: f for f in ("name", "default", "required", "secret", "description")}
PARAMETER = schema.Mapping(
    {"name": schema.Text(), "default": schema.Text(allow_int=True), "required": schema.Bool(),
     "secret": schema.Bool(), "description": schema.Text()},
    required=["name"],
)  # fmt: skip
SHAPE = schema.Mapping(
    {
        "name": schema.Text(),
        "description": schema.Text(),
        "body": schema.Text(),
        "timeout": schema.Int(),
        "execution_target": schema.Choice(ExecutionTarget.values),
        "parameters": schema.ListOf(PARAMETER),
        "approved": schema.Bool(),
    },
    required=["name"],
)


def queryset():
    return Script.objects.prefetch_related("parameters")


def prepare(applier, index: int, data: dict) -> None:
    item = applier.item(SECTION, index, data, Script)
    obj = item.obj
    before = base.state(obj, KEYS)
    was_approved = obj.is_approved if not item.new else False
    stored = [] if item.new else [tuple(getattr(p, k) for k in PARAMETER_KEYS) for p in obj.parameters.all()]
    # The model's rules (an empty body…) apply as they do in the admin; the text is kept
    # as typed, like the admin's form keeps it.
    obj.name = data["name"].strip()
    obj.description = data.get("description", "").strip()
    obj.body = as_typed(data.get("body", ""), obj.body if not item.new else "")
    obj.timeout = data.get("timeout", base.default(Script, "timeout"))
    obj.execution_target = data.get("execution_target", base.default(Script, "execution_target"))
    applier.problems += base.full_clean(obj, item.path, KEYS)
    item.parameters = _prepare_parameters(applier, item, data.get("parameters", []))
    item.changes = base.changes(before, base.state(obj, KEYS), KEYS)
    if item.parameters != stored:
        item.changes.append("parameters")
    approved = data.get("approved")
    will_be_approved = bool(obj.approved_hash) and obj.approved_hash == obj.content_hash
    item.approve = approved is True and not will_be_approved
    item.revoke = approved is False and will_be_approved
    if item.approve:
        item.changes.append("approved")
    elif item.revoke:
        item.changes.append("approval revoked")
    elif was_approved and not will_be_approved:
        item.changes.append("no longer approved")
    applier.items[SECTION].append(item)


def _prepare_parameters(applier, item: Item, declared_in_file: list[dict]) -> list[tuple]:
    """The script's parameters as (name, default, required, secret, description), each
    checked by the model's rules; a name declared twice is a problem."""
    parameters, seen = [], {}
    for j, parameter in enumerate(declared_in_file):
        path = index_path(key_path(item.path, "parameters"), j)
        if parameter["name"] in seen:
            message = f"{parameter['name']} is already declared as parameters[{seen[parameter['name']]}]"
            applier.problems.append(Problem(key_path(path, "name"), message))
            continue
        seen[parameter["name"]] = j
        declared = ScriptParameter(
            name=parameter["name"].strip(),
            default=parameter.get("default", "").strip(),
            required=bool(parameter.get("required")),
            secret=bool(parameter.get("secret")),
            description=parameter.get("description", "").strip(),
        )
        problems = base.full_clean(declared, path, PARAMETER_KEYS, exclude=["script"])
        if problems:
            applier.problems += problems
            continue
        parameters.append(tuple(getattr(declared, k) for k in PARAMETER_KEYS))
    return parameters


def write(applier) -> None:
    for item in applier.items[SECTION]:
        script = item.obj
        if not applier.save(item, KEYS):
            continue
        if "parameters" in item.changes:
            script.parameters.all().delete()
            ScriptParameter.objects.bulk_create(
                ScriptParameter(script=script, **dict(zip(PARAMETER_KEYS, values, strict=True)))
                for values in item.parameters
            )
        if item.approve:
            script.approve(APPROVER)
        elif item.revoke:
            script.revoke()


def export(exporter, script: Script) -> dict:
    out = {"name": script.name}
    if script.description:
        out["description"] = script.description
    out.update(body=script.body, timeout=script.timeout, execution_target=script.execution_target)
    parameters = []
    for parameter in script.parameters.all():
        entry = Flow(name=parameter.name)
        # The admin never shows a secret parameter's default: neither does the export.
        if parameter.default and not parameter.secret:
            entry["default"] = parameter.default
        if parameter.required:
            entry["required"] = True
        if parameter.secret:
            entry["secret"] = True
        if parameter.description:
            entry["description"] = parameter.description
        parameters.append(entry)
    if parameters:
        out["parameters"] = parameters
    if script.is_approved:
        out["approved"] = True
    return out
