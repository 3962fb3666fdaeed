"""Applying a configuration (SPEC §9): validate everything, then one transaction.

1. ``schema.check``: the shape of the file, unknown keys, secrets read from the environment
   and files.
2. Prepare: every object of the file is matched by name and its new values are checked
   with the rules the admin uses — model ``full_clean()``, and the admin's own forms where
   a rule lives only there (scripts and their parameters) — plus the references between
   objects (scripts of hooks, repositories of plans, source connections).
3. Write, in one ``transaction.atomic()``: removals (``--prune``), creations and updates,
   then the checks that need the new state in the database (unique locations, parameters
   of attached scripts, plans' repositories and retention conflicts, as the admin does).
4. Side effects, only when all of that passed: ``borg init`` for ``init: true``
   repositories that are missing. A failure there rolls the transaction back (and removes
   the repositories this run initialised on local paths).

Any problem in a step stops before the next; the transaction is rolled back, so a
refused file changes nothing. ``--dry-run`` runs steps 1–3 and always rolls back.
Saving a plan through the ORM arms its schedule (``repositories.signals``), exactly as the
admin's save does; packages are recorded and queued with the admin's own functions (the
queue is sent when the transaction commits).
"""

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import transaction
from django.db.models import ProtectedError

from borgui.config import schema
from borgui.config.problems import ConfigError, Problem, index_path, key_path
from hooks.models import HookAttachment, HookType, Script, ScriptParameter
from maintenance.models import PlanMaintenance, RepositoryMaintenance
from notifications.models import Channel, EventKind, PlanMonitoring
from packages_admin.models import PackageInstall
from packages_admin.services import queue_install, record_package
from packages_admin.validators import parse_package_spec
from repositories.models import BackupPlan, PlanRepository, Repository, SSHConnection
from repositories.services.retention import plan_repository_problems

APPROVER = "apply_config"
KINDS = ("ssh_connection", "script", "repository", "plan", "package", "notification")
SECTION_KIND = dict(zip(schema.SECTIONS, KINDS, strict=True))

# model field → key in the file
SSH_KEYS = {"name": "name", "host": "host", "port": "port", "username": "username", "known_hosts": "known_hosts"}
SCRIPT_KEYS = {f: f for f in ("name", "description", "body", "timeout", "execution_target")}
PARAMETER_KEYS = {f: f for f in ("name", "default", "required", "secret", "description")}
REPOSITORY_KEYS = {
    "name": "name",
    "location": "path",
    "encryption": "encryption",
    "pre_backup_script": "pre_backup_script",
    "post_backup_script": "post_backup_script",
    "source_connection": "source_connection",
}
PLAN_KEYS = {
    **{f: f for f in ("name", "sources", "excludes", "compression", "archive_name", "schedule", "timezone")},
    **{f: f for f in ("enabled", "on_repository_failure", "source_connection")},
    **{f: f"retention.{f}" for f in BackupPlan.RETENTION_FIELDS},
    **({"stop_containers": "stop_containers"} if schema.HAS_STOP_CONTAINERS else {}),
}
MONITORING_KEYS = {"ping_url": "ping_url", "alert_after_hours": "alert_after_hours"}
# maintenance (docs/maintenance.md): model field → key path in the file
REPOSITORY_MAINTENANCE_KEYS = {
    "check_schedule": "check.schedule", "check_timezone": "check.timezone", "check_verify_data": "check.verify_data",
    "check_max_duration": "check.max_duration", "compact_schedule": "compact.schedule",
    "compact_timezone": "compact.timezone", "compact_after_prune": "compact_after_prune",
}  # fmt: skip
PLAN_MAINTENANCE_KEYS = {
    "verify_schedule": "verify.schedule", "verify_timezone": "verify.timezone",
    "sample_percent": "verify.sample_percent", "count_tolerance_percent": "verify.count_tolerance_percent",
    "drill_paths": "drill.paths", "drill_schedule": "drill.schedule", "drill_timezone": "drill.timezone",
    "drill_parameter_values": "drill.parameters",
}  # fmt: skip
CHANNEL_KEYS = {"name": "name", "url": "url", "events": "events"}
ATTACHMENT_KEYS = {
    "script": "script",
    "timeout": "timeout",
    "on_failure": "on_failure",
    "run_on": "run_on",
    "enabled": "enabled",
    "parameter_values": "parameters",
}


@dataclass
class Outcome:
    kind: str
    name: str
    action: str  # created, updated, removed, unchanged
    details: list[str] = field(default_factory=list)

    def line(self) -> str:
        detail = f" ({', '.join(self.details)})" if self.details else ""
        return f"{self.action} {self.kind} {self.name}{detail}"


@dataclass
class Report:
    outcomes: list[Outcome]
    dry_run: bool = False

    def count(self, action: str) -> int:
        return sum(1 for outcome in self.outcomes if outcome.action == action)

    def lines(self) -> list[str]:
        lines = ["dry run: nothing is changed; this is what applying the file would do"] if self.dry_run else []
        for kind in KINDS:
            for outcome in self.outcomes:
                if outcome.kind == kind and outcome.action != "unchanged":
                    lines.append(outcome.line())
        counts = ", ".join(f"{self.count(a)} {a}" for a in ("created", "updated", "removed", "unchanged"))
        return [*lines, counts]


class _Rollback(Exception):
    pass


def _default(model, name: str):
    return model._meta.get_field(name).get_default()


def _problems(error: ValidationError, path: str, keys: dict[str, str]) -> list[Problem]:
    """A model's or form's ValidationError as problems at the keys of the file."""
    if not hasattr(error, "error_dict"):
        return [Problem(path, message) for message in error.messages]
    problems = []
    for name, messages in error.message_dict.items():
        key = keys.get(name) if name != NON_FIELD_ERRORS else None
        for message in messages:
            problems.append(Problem(key_path(path, key) if key else path, message))
    return problems


def _form_problems(form, path: str, keys: dict[str, str]) -> list[Problem]:
    problems = []
    for name, messages in form.errors.items():
        key = keys.get(name) if name != NON_FIELD_ERRORS else None
        problems.extend(Problem(key_path(path, key) if key else path, m) for m in messages)
    return problems


def _full_clean(obj, path: str, keys: dict[str, str], exclude=()) -> list[Problem]:
    try:
        obj.full_clean(exclude=list(exclude), validate_unique=False, validate_constraints=False)
    except ValidationError as e:
        return _problems(e, path, keys)
    return []


def _validate_unique(obj, path: str, keys: dict[str, str]) -> list[Problem]:
    try:
        obj.validate_unique()
    except ValidationError as e:
        return _problems(e, path, keys)
    return []


_UNSET = object()


def _state(obj, fields, source_connection=_UNSET) -> dict:
    """The values of FIELDS; a source connection by its name (SOURCE_CONNECTION: the one to be set)."""
    state = {}
    for name in fields:
        if name != "source_connection":
            state[name] = getattr(obj, name)
        elif source_connection is not _UNSET:
            state[name] = source_connection
        else:
            state[name] = obj.source_connection.name if obj.source_connection_id else None
    return state


def _changes(before: dict, after: dict, keys: dict[str, str]) -> list[str]:
    """The keys of the file whose values differ."""
    return [key for name, key in keys.items() if name in before and before[name] != after[name]]


@dataclass
class Hook:
    path: str
    script: str
    attachment: HookAttachment  # unsaved; script and owner set when written


@dataclass
class Item:
    """One object of the file on its way into the database."""

    section: str
    index: int
    name: str
    obj: object
    data: dict
    new: bool
    changes: list[str] = field(default_factory=list)
    hooks: dict[str, list[Hook]] | None = None
    extra: dict = field(default_factory=dict)

    @property
    def path(self) -> str:
        return index_path(self.section, self.index)


class Applier:
    def __init__(self, document: dict, prune: bool):
        self.doc = document
        self.prune = prune
        self.problems: list[Problem] = []
        self.items: dict[str, list[Item]] = {section: [] for section in schema.SECTIONS}
        self.removed: list[Outcome] = []
        self.initialised: list[tuple[Path, bool]] = []  # local paths this run initialised, and whether they existed
        self.init_notes: dict[str, str] = {}

    # --- 2. prepare ---------------------------------------------------------------------

    def prepare(self) -> None:
        self.existing = {
            "ssh_connections": {o.name: o for o in SSHConnection.objects.all()},
            "scripts": {o.name: o for o in Script.objects.all()},
            "repositories": {o.name: o for o in Repository.objects.select_related("source_connection")},
            "plans": {o.name: o for o in BackupPlan.objects.select_related("source_connection")},
            "notifications": {o.name: o for o in Channel.objects.prefetch_related("plans")},
        }
        self._check_duplicate_names()
        if self.problems:
            return
        self.to_remove = {section: self._prune_names(section) for section in schema.SECTIONS}
        for section, prepare in (
            ("ssh_connections", self._prepare_ssh),
            ("scripts", self._prepare_script),
            ("repositories", self._prepare_repository),
            ("plans", self._prepare_plan),
            ("notifications", self._prepare_notification),
        ):
            for index, data in enumerate(self.doc.get(section, [])):
                prepare(index, data)
        self._prepare_packages()

    def _check_duplicate_names(self) -> None:
        for section in schema.NAMED_SECTIONS:
            seen: dict[str, int] = {}
            for index, data in enumerate(self.doc.get(section, [])):
                name = data["name"]
                if name in seen:
                    self.problems.append(
                        Problem(
                            key_path(index_path(section, index), "name"),
                            f"{name} is already the name of {index_path(section, seen[name])}",
                        )
                    )
                seen.setdefault(name, index)

    def _file_names(self, section: str) -> set[str]:
        if section == "packages":
            names = set()
            for spec in self.doc.get("packages", []):
                try:
                    names.add(parse_package_spec(spec)[0])
                except ValidationError:
                    pass
            return names
        return {data["name"] for data in self.doc.get(section, [])}

    def _prune_names(self, section: str) -> list[str]:
        if not self.prune or section not in self.doc:
            return []
        wanted = self._file_names(section)
        if section == "packages":
            return sorted(p.name for p in PackageInstall.objects.all() if p.package_name not in wanted)
        return sorted(set(self.existing[section]) - wanted)

    def _known(self, section: str) -> set[str]:
        """Names a reference may use: in the file, or in the database and not being removed."""
        return self._file_names(section) | (set(self.existing[section]) - set(self.to_remove[section]))

    def _reference(self, data: dict, key: str, section: str, what: str, path: str) -> None:
        name = data.get(key)
        if name is not None and name not in self._known(section):
            self.problems.append(Problem(key_path(path, key), f"no {what} named {name}"))

    def _item(self, section: str, index: int, data: dict, model) -> Item:
        existing = self.existing[section].get(data["name"])
        obj = existing if existing is not None else model(name=data["name"])
        return Item(section, index, data["name"], obj, data, new=existing is None)

    def _prepare_ssh(self, index: int, data: dict) -> None:
        item = self._item("ssh_connections", index, data, SSHConnection)
        obj = item.obj
        before = _state(obj, [*SSH_KEYS, "private_key"])
        for name, key in SSH_KEYS.items():
            setattr(obj, name, data.get(key, _default(SSHConnection, name)))
        keys = dict(SSH_KEYS)
        if "private_key" in data:  # not given: the stored key is kept (as in the admin)
            obj.private_key = data["private_key"].value
            keys["private_key"] = data["private_key"].key
        self.problems += _full_clean(obj, item.path, keys)
        item.changes = _changes(before, _state(obj, before), {**SSH_KEYS, "private_key": "private_key"})
        self.items["ssh_connections"].append(item)

    def _prepare_script(self, index: int, data: dict) -> None:
        from hooks.forms import ScriptForm, ScriptParameterForm

        item = self._item("scripts", index, data, Script)
        obj = item.obj
        before = _state(obj, SCRIPT_KEYS)
        was_approved = obj.is_approved if not item.new else False
        stored_parameters = {} if item.new else {p.name: p for p in obj.parameters.all()}
        # Read before the forms below update these instances in memory.
        stored = [tuple(getattr(p, k) for k in PARAMETER_KEYS) for p in stored_parameters.values()]
        # The admin's form: its rules (an empty body…) and its normalisation apply as they do there.
        form = ScriptForm(
            data={
                "name": data["name"],
                "description": data.get("description", ""),
                "body": data.get("body", ""),
                "timeout": str(data.get("timeout", _default(Script, "timeout"))),
                "execution_target": data.get("execution_target", _default(Script, "execution_target")),
            },
            instance=obj,
        )
        if not form.is_valid():
            self.problems += _form_problems(form, item.path, SCRIPT_KEYS)
        parameters, seen = [], {}
        for j, parameter in enumerate(data.get("parameters", [])):
            path = index_path(key_path(item.path, "parameters"), j)
            if parameter["name"] in seen:
                self.problems.append(
                    Problem(
                        key_path(path, "name"),
                        f"{parameter['name']} is already declared as parameters[{seen[parameter['name']]}]",
                    )
                )
                continue
            seen[parameter["name"]] = j
            # The stored parameter of that name, so a secret one keeps its stored default, as in the admin.
            instance = stored_parameters.get(parameter["name"]) or ScriptParameter()
            parameter_form = ScriptParameterForm(
                data={
                    "name": parameter["name"],
                    "default": parameter.get("default", ""),
                    "required": "on" if parameter.get("required") else "",
                    "secret": "on" if parameter.get("secret") else "",
                    "description": parameter.get("description", ""),
                },
                instance=instance,
            )
            if not parameter_form.is_valid():
                self.problems += _form_problems(parameter_form, path, PARAMETER_KEYS)
                continue
            parameters.append(tuple(parameter_form.cleaned_data[k] for k in PARAMETER_KEYS))
        item.changes = _changes(before, _state(obj, SCRIPT_KEYS), SCRIPT_KEYS)
        item.extra["parameters"] = parameters
        if parameters != stored:
            item.changes.append("parameters")
        approved = data.get("approved")
        will_be_approved = bool(obj.approved_hash) and obj.approved_hash == obj.content_hash
        item.extra["approve"] = approved is True and not will_be_approved
        item.extra["revoke"] = approved is False and will_be_approved
        if item.extra["approve"]:
            item.changes.append("approved")
        elif item.extra["revoke"]:
            item.changes.append("approval revoked")
        elif was_approved and not will_be_approved:
            item.changes.append("no longer approved")
        self.items["scripts"].append(item)

    def _prepare_hooks(self, item: Item) -> None:
        hooks = item.data.get("hooks")
        if hooks is None:
            return  # not given: the object's attachments are left as they are
        item.hooks = {}
        for hook_type in schema.HOOK_TYPES:
            if hook_type not in hooks:
                continue
            prepared = []
            for index, data in enumerate(hooks[hook_type]):
                path = index_path(key_path(key_path(item.path, "hooks"), hook_type), index)
                attachment = HookAttachment(
                    hook_type=hook_type,
                    enabled=data.get("enabled", _default(HookAttachment, "enabled")),
                    timeout=data.get("timeout"),
                    on_failure=data.get("on_failure", ""),
                    run_on=data.get("run_on", ""),
                )
                # Empty values are left out, as the admin does: the parameter's default applies.
                attachment.set_values({k: v for k, v in data.get("parameters", {}).items() if v != ""})
                self.problems += _full_clean(
                    attachment, path, ATTACHMENT_KEYS, exclude=["script", "repository", "plan"]
                )
                self._reference(data, "script", "scripts", "script", path)
                declared = self._declared_parameters(data["script"])
                if declared is not None:
                    problem = attachment.undeclared_values_problem(data["script"], declared)
                    if problem:
                        self.problems.append(Problem(key_path(path, "parameters"), problem))
                prepared.append(Hook(path, data["script"], attachment))
            item.hooks[hook_type] = prepared

    def _declared_parameters(self, script_name: str) -> set[str] | None:
        """The parameter names SCRIPT will declare once applied: as the file gives them, else
        as stored (None: no such script, reported by the reference check)."""
        for data in self.doc.get("scripts", []):
            if data["name"] == script_name:
                return {parameter["name"] for parameter in data.get("parameters", [])}
        script = self.existing["scripts"].get(script_name)
        return None if script is None else {parameter.name for parameter in script.parameters.all()}

    def _prepare_repository(self, index: int, data: dict) -> None:
        item = self._item("repositories", index, data, Repository)
        obj = item.obj
        compared = {**REPOSITORY_KEYS, "passphrase": "passphrase", "exported_key": "exported_key"}
        before = _state(obj, [*compared, "pre_backup_approved_hash", "post_backup_approved_hash"])
        for name, key in REPOSITORY_KEYS.items():
            if name != "source_connection":
                setattr(obj, name, data.get(key, _default(Repository, name)))
        keys = dict(REPOSITORY_KEYS)
        for secret in ("passphrase", "exported_key"):
            keys[secret] = secret
            if secret in data:  # not given: the stored one is kept (as in the admin)
                setattr(obj, secret, data[secret].value)
                keys[secret] = data[secret].key
        # The operator of the machine applied these inline hooks: they are approved as applied.
        obj.approve_inline_hooks()
        self.problems += _full_clean(obj, item.path, keys, exclude=["source_connection"])
        self._reference(data, "source_connection", "ssh_connections", "SSH connection", item.path)
        item.extra["source_connection"] = data.get("source_connection")
        after = _state(obj, before, source_connection=data.get("source_connection"))
        item.changes = _changes(before, after, compared)
        for name in ("pre_backup_script", "post_backup_script"):
            hash_name = name.replace("_script", "_approved_hash")
            if before[hash_name] != after[hash_name] and name not in item.changes:
                item.changes.append(f"{name} approved")
        item.extra["init"] = bool(data.get("init")) and self._storage_missing(obj, item.new, before["location"])
        self._prepare_repository_maintenance(item)
        self._prepare_hooks(item)
        self.items["repositories"].append(item)

    @staticmethod
    def _storage_missing(obj: Repository, new: bool, old_location: str) -> bool:
        """Whether `init: true` should run borg init. A local path is looked at (no borg
        repository there: no `config` file); a remote one is not contacted except to be
        initialised when it is new to borgui or moved (an existing one then answers
        "already exists", which is fine)."""
        if obj.is_remote:
            return new or old_location != obj.location
        return not (Path(obj.location) / "config").is_file()

    def _prepare_plan(self, index: int, data: dict) -> None:
        item = self._item("plans", index, data, BackupPlan)
        obj = item.obj
        before = _state(obj, PLAN_KEYS)
        retention = data.get("retention", {})
        for name, key in PLAN_KEYS.items():
            if name == "source_connection":
                continue
            given = retention if key.startswith("retention.") else data
            setattr(obj, name, given.get(name, _default(BackupPlan, name)))
        self.problems += _full_clean(obj, item.path, PLAN_KEYS, exclude=["source_connection"])
        self._reference(data, "source_connection", "ssh_connections", "SSH connection", item.path)
        item.extra["source_connection"] = data.get("source_connection")
        item.changes = _changes(before, _state(obj, PLAN_KEYS, data.get("source_connection")), PLAN_KEYS)
        if any(key.startswith("retention.") for key in item.changes):
            item.changes = [k for k in item.changes if not k.startswith("retention.")] + ["retention"]
        repositories = data.get("repositories", [])
        seen = set()
        for j, name in enumerate(repositories):
            path = index_path(key_path(item.path, "repositories"), j)
            if name in seen:
                self.problems.append(Problem(path, f"{name} is listed twice"))
            seen.add(name)
            if name not in self._known("repositories"):
                self.problems.append(Problem(path, f"no repository named {name}"))
        item.extra["repositories"] = repositories
        current = [] if item.new else [r.name for r in obj.ordered_repositories()]
        if current != repositories:
            item.changes.append("repositories")
        self._prepare_monitoring(item)
        self._prepare_plan_maintenance(item)
        self._prepare_hooks(item)
        self.items["plans"].append(item)

    def _prepare_monitoring(self, item: Item) -> None:
        """A plan's ping_url and alert_after_hours (kept beside the plan, notifications.PlanMonitoring)."""
        data = item.data
        monitoring = None if item.new else PlanMonitoring.objects.filter(plan=item.obj).first()
        monitoring = monitoring or PlanMonitoring()
        before = _state(monitoring, MONITORING_KEYS)
        keys = dict(MONITORING_KEYS)
        if "ping_url" in data:  # not given: the stored one is kept (as in the admin)
            monitoring.ping_url = data["ping_url"].value
            keys["ping_url"] = data["ping_url"].key
        monitoring.alert_after_hours = data.get("alert_after_hours")
        self.problems += _full_clean(monitoring, item.path, keys, exclude=["plan"])
        item.changes += _changes(before, _state(monitoring, MONITORING_KEYS), MONITORING_KEYS)
        item.extra["monitoring"] = monitoring

    # --- maintenance (docs/maintenance.md), kept beside repositories and plans ---

    @staticmethod
    def _nested(data: dict, key: str, default):
        section, _, name = key.rpartition(".")
        return (data.get(section, {}) if section else data).get(name, default)

    def _prepare_repository_maintenance(self, item: Item) -> None:
        settings = None if item.new else RepositoryMaintenance.objects.filter(repository=item.obj).first()
        settings = settings or RepositoryMaintenance()
        before = _state(settings, REPOSITORY_MAINTENANCE_KEYS)
        for name, key in REPOSITORY_MAINTENANCE_KEYS.items():
            setattr(settings, name, self._nested(item.data, key, _default(RepositoryMaintenance, name)))
        self.problems += _full_clean(settings, item.path, REPOSITORY_MAINTENANCE_KEYS, exclude=["repository"])
        changes = _changes(before, _state(settings, REPOSITORY_MAINTENANCE_KEYS), REPOSITORY_MAINTENANCE_KEYS)
        item.changes += sorted({key.partition(".")[0] for key in changes})
        item.extra["maintenance"] = settings

    def _prepare_plan_maintenance(self, item: Item) -> None:
        settings = None if item.new else PlanMaintenance.objects.filter(plan=item.obj).select_related("drill_script")
        settings = (settings.first() if settings is not None else None) or PlanMaintenance()
        before = {
            **_state(settings, PLAN_MAINTENANCE_KEYS),
            "script": settings.drill_script.name if settings.drill_script_id else None,
        }
        data = item.data
        for name, key in PLAN_MAINTENANCE_KEYS.items():
            if name != "drill_parameter_values":
                setattr(settings, name, self._nested(data, key, _default(PlanMaintenance, name)))
        drill = data.get("drill")
        settings.set_drill_values({k: v for k, v in (drill or {}).get("parameters", {}).items() if v != ""})
        settings.drill_script_pending = drill is not None
        settings.drill_script = None
        self.problems += _full_clean(
            settings,
            item.path,
            {**PLAN_MAINTENANCE_KEYS, "drill_script": "drill.script"},
            exclude=["plan", "drill_script"],
        )
        if drill is not None:
            path = key_path(item.path, "drill")
            self._reference(drill, "script", "scripts", "script", path)
            declared = self._declared_parameters(drill["script"])
            problem = HookAttachment(parameter_values=settings.drill_parameter_values).undeclared_values_problem(
                drill["script"], declared or set()
            ) if declared is not None else ""  # fmt: skip
            if problem:
                self.problems.append(Problem(key_path(path, "parameters"), problem))
        after = {**_state(settings, PLAN_MAINTENANCE_KEYS), "script": drill["script"] if drill else None}
        changes = _changes(before, after, {**PLAN_MAINTENANCE_KEYS, "script": "drill.script"})
        item.changes += sorted({key.partition(".")[0] for key in changes})
        item.extra["maintenance"] = settings
        item.extra["drill_script"] = drill["script"] if drill else None

    def _write_maintenance(self, item: Item, owner_field: str, section_keys: set[str]) -> None:
        settings = item.extra["maintenance"]
        if not section_keys & set(item.changes):
            return
        setattr(settings, owner_field, item.obj)
        if owner_field == "plan":
            name = item.extra["drill_script"]
            settings.drill_script = self._objects("scripts")[name] if name else None
        if settings.is_default:
            if settings.pk:
                settings.delete()
        else:
            settings.save()

    # --- end maintenance ---

    def _prepare_notification(self, index: int, data: dict) -> None:
        item = self._item("notifications", index, data, Channel)
        channel = item.obj
        before = {**_state(channel, CHANNEL_KEYS), "plans": None if item.new else _channel_plans(channel)}
        channel.events = data.get("events", EventKind.defaults())
        keys = dict(CHANNEL_KEYS)
        if "url" in data:  # not given: the stored one is kept (as in the admin)
            channel.url = data["url"].value
            keys["url"] = data["url"].key
        self.problems += _full_clean(channel, item.path, keys)
        plans = data.get("plans")
        for j, name in enumerate(plans or []):
            if name not in self._known("plans"):
                self.problems.append(Problem(index_path(key_path(item.path, "plans"), j), f"no plan named {name}"))
        channel.all_plans = plans is None
        item.extra["plans"] = plans
        after = {**_state(channel, CHANNEL_KEYS), "plans": None if plans is None else sorted(set(plans))}
        item.changes = _changes(before, after, {**CHANNEL_KEYS, "plans": "plans"})
        self.items["notifications"].append(item)

    def _prepare_packages(self) -> None:
        seen: dict[str, int] = {}
        for index, spec in enumerate(self.doc.get("packages", [])):
            path = index_path("packages", index)
            try:
                name, _version = parse_package_spec(spec)
            except ValidationError:
                name = None
            if name is not None and name in seen:
                self.problems.append(Problem(path, f"{name} is already listed as packages[{seen[name]}]"))
                continue
            if name is not None:
                seen[name] = index
            existing = PackageInstall.objects.for_package(name).first() if name else None
            obj = existing or PackageInstall()
            before = obj.name
            obj.name = spec
            self.problems += _full_clean(obj, path, {"name": ""})
            item = Item("packages", index, spec, obj, {}, new=existing is None)
            item.changes = [f"was {before}"] if existing is not None and before != spec else []
            self.items["packages"].append(item)

    # --- 3. write -----------------------------------------------------------------------------

    def write(self) -> None:
        steps = (
            lambda: self._remove("plans"),
            self._write_ssh,
            self._write_scripts,
            self._remove_repositories,
            self._write_repositories,
            self._write_plans,
            lambda: self._remove("notifications"),
            self._write_notifications,
            lambda: self._remove("scripts"),
            lambda: self._remove("ssh_connections"),
            self._write_packages,
            lambda: self._remove("packages"),
            self._check_plans,
        )
        for step in steps:
            step()
            if self.problems:
                return

    def _save(self, item: Item, keys: dict[str, str]) -> bool:
        if not item.new and not item.changes:
            return True
        problems = _validate_unique(item.obj, item.path, keys)
        if problems:
            self.problems += problems
            return False
        item.obj.save()
        return True

    def _write_ssh(self) -> None:
        for item in self.items["ssh_connections"]:
            self._save(item, SSH_KEYS)

    def _write_scripts(self) -> None:
        for item in self.items["scripts"]:
            script = item.obj
            if not self._save(item, SCRIPT_KEYS):
                continue
            if "parameters" in item.changes:
                script.parameters.all().delete()
                ScriptParameter.objects.bulk_create(
                    ScriptParameter(script=script, **dict(zip(PARAMETER_KEYS, values, strict=True)))
                    for values in item.extra["parameters"]
                )
            if item.extra["approve"]:
                script.approve(APPROVER)
            elif item.extra["revoke"]:
                script.revoke()

    def _objects(self, section: str) -> dict:
        objects = {name: obj for name, obj in self.existing[section].items() if name not in self.to_remove[section]}
        objects.update({item.name: item.obj for item in self.items[section]})
        return objects

    def _remove_repositories(self) -> None:
        # Plans of the file are given their repositories below; their links to repositories
        # being removed go first, so that only links of plans kept as they are protect one.
        names = self.to_remove["repositories"]
        if names:
            PlanRepository.objects.filter(
                repository__name__in=names, plan__name__in=[item.name for item in self.items["plans"]]
            ).delete()
        self._remove("repositories")

    def _write_repositories(self) -> None:
        connections = self._objects("ssh_connections")
        for item in self.items["repositories"]:
            name = item.extra["source_connection"]
            item.obj.source_connection = connections[name] if name else None
            if self._save(item, {**REPOSITORY_KEYS, "passphrase": "passphrase"}):
                self._write_maintenance(item, "repository", {"check", "compact", "compact_after_prune"})
                self._write_hooks(item, "repository")

    def _write_plans(self) -> None:
        connections = self._objects("ssh_connections")
        repositories = self._objects("repositories")
        for item in self.items["plans"]:
            plan = item.obj
            name = item.extra["source_connection"]
            plan.source_connection = connections[name] if name else None
            if not self._save(item, PLAN_KEYS):
                continue
            if "repositories" in item.changes:
                plan.repository_links.all().delete()
                PlanRepository.objects.bulk_create(
                    PlanRepository(plan=plan, repository=repositories[name], order=order)
                    for order, name in enumerate(item.extra["repositories"])
                )
            self._write_monitoring(item)
            self._write_maintenance(item, "plan", {"verify", "drill"})
            self._write_hooks(item, "plan")

    def _write_monitoring(self, item: Item) -> None:
        monitoring = item.extra["monitoring"]
        if not any(key in item.changes for key in MONITORING_KEYS.values()):
            return
        monitoring.plan = item.obj
        if monitoring.is_empty:
            if monitoring.pk:
                monitoring.delete()
        else:
            monitoring.save()

    def _write_notifications(self) -> None:
        plans = self._objects("plans")
        for item in self.items["notifications"]:
            if self._save(item, CHANNEL_KEYS) and (item.new or "plans" in item.changes):
                item.obj.plans.set([plans[name] for name in item.extra["plans"] or []])

    def _write_hooks(self, item: Item, owner_field: str) -> None:
        if item.hooks is None:
            return
        scripts = self._objects("scripts")
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
                    self.problems += _problems(e, hook.path, ATTACHMENT_KEYS)
                    continue
                attachment.save()
            for surplus in current[len(hooks) :]:
                surplus.delete()

    def _write_packages(self) -> None:
        for item in self.items["packages"]:
            if not item.new and not item.changes:
                continue
            package, created = record_package(item.name)
            queue_install(package, new=created)

    def _remove(self, section: str) -> None:
        kind = SECTION_KIND[section]
        for name in self.to_remove[section]:
            if section == "packages":
                objects = PackageInstall.objects.filter(name=name)
            else:
                objects = self.existing[section][name].__class__.objects.filter(name=name)
            try:
                with transaction.atomic():
                    for obj in objects:
                        obj.delete()
            except ProtectedError as e:
                users = sorted({_describe(o) for o in e.protected_objects})
                self.problems.append(
                    Problem(section, f"--prune cannot remove {kind} {name}: still used by {', '.join(users)}")
                )
                continue
            self.removed.append(Outcome(kind, name, "removed"))

    def _check_plans(self) -> None:
        """The admin's checks of a plan's repositories, with every plan of the file in place."""
        for item in self.items["plans"]:
            repositories = item.obj.ordered_repositories()
            for problem in plan_repository_problems(item.obj, repositories):
                self.problems.append(Problem(key_path(item.path, "repositories"), problem))

    # --- 4. side effects ------------------------------------------------------------------------

    def initialise(self) -> None:
        from repositories import borg

        for item in self.items["repositories"]:
            if not item.extra["init"]:
                continue
            repository = item.obj
            local = None if repository.is_remote else Path(repository.location)
            existed = local is not None and local.exists()
            result = borg.init(repository)
            if result.ok:
                if local is not None:
                    self.initialised.append((local, existed))
                self.init_notes[item.name] = "borg init"
            elif "Repository.AlreadyExists" in result.msgids:
                self.init_notes[item.name] = "already initialised"
            else:
                self.problems.append(Problem(key_path(item.path, "init"), f"borg init failed: {result.error_line()}"))
                return

    def undo_initialise(self) -> None:
        """Remove what borg init created on local paths (each was empty or absent before)."""
        for path, existed in self.initialised:
            if existed:
                for child in path.iterdir():
                    if child.is_dir() and not child.is_symlink():
                        shutil.rmtree(child)
                    else:
                        child.unlink()
            else:
                shutil.rmtree(path, ignore_errors=True)

    # --- report -------------------------------------------------------------------------------

    def outcomes(self, dry_run: bool) -> list[Outcome]:
        outcomes = []
        for section in schema.SECTIONS:
            kind = SECTION_KIND[section]
            for item in self.items[section]:
                details = list(item.changes) if not item.new else []
                if section == "repositories" and item.extra["init"]:
                    details.append("borg init" if dry_run else self.init_notes.get(item.name, "borg init"))
                if item.new:
                    action = "created"
                elif details:
                    action = "updated"
                else:
                    action = "unchanged"
                outcomes.append(Outcome(kind, item.name, action, details))
            outcomes.extend(o for o in self.removed if o.kind == kind)
        return outcomes


def _channel_plans(channel: Channel) -> list[str] | None:
    return None if channel.all_plans else sorted(plan.name for plan in channel.plans.all())


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


def _describe(obj) -> str:
    if isinstance(obj, HookAttachment):
        owner = obj.repository or obj.plan
        return f"a {obj.hook_type} hook of {'repository' if obj.repository_id else 'plan'} {owner}"
    if isinstance(obj, PlanRepository):
        return f"plan {obj.plan}"
    return f"{obj._meta.verbose_name} {obj}"


def apply(document, *, source: str = "", prune: bool = False, dry_run: bool = False, env=None) -> Report:
    """Apply a parsed configuration; raise ConfigError (nothing changed) when it is refused."""
    normalised, problems = schema.check(document, source, env)
    if problems:
        raise ConfigError(problems)
    applier = Applier(normalised, prune)
    try:
        with transaction.atomic():
            applier.prepare()
            if applier.problems:
                raise _Rollback
            applier.write()
            if applier.problems or dry_run:
                raise _Rollback
            applier.initialise()
            if applier.problems:
                raise _Rollback
    except _Rollback:
        applier.undo_initialise()
        if applier.problems:
            raise ConfigError(applier.problems) from None
    except BaseException:
        applier.undo_initialise()
        raise
    return Report(applier.outcomes(dry_run), dry_run=dry_run)
