"""``export_config``: the database as the YAML ``apply_config`` reads (SPEC §9).

Sections and keys in the order of SPEC §9, objects by name. Never a secret: each one is
written as a ``*_env`` (or ``{env: …}``) reference to an environment variable with a stable
name, listed in the comment at the top, so that export → apply (with those variables set)
→ export gives the same text. ``init`` is never written.

What is written: keys with a value; empty optional ones (description, known_hosts,
schedule, timezone, excludes, retention, source_connection, inline hooks…) are left out,
which means the same thing to apply_config. Settings that have a default (port, timeout,
execution_target, encryption, compression, archive_name, enabled, on_repository_failure,
a hook's on_failure and run_on) are always written. ``hooks`` is always written with both
lists, so applying an export sets every object's attachments. A script is written with
``approved: true`` when its current body is approved; otherwise ``approved`` is left out
(applying it then leaves the review state as it is).

Variable names: ``BORGUI_SSH_<NAME>_PRIVATE_KEY``, ``BORGUI_REPOSITORY_<NAME>_PASSPHRASE``,
``BORGUI_REPOSITORY_<NAME>_EXPORTED_KEY``, ``BORGUI_PLAN_<NAME>_PING_URL``,
``BORGUI_NOTIFICATION_<NAME>_URL`` and, for a secret parameter value of a hook,
``BORGUI_ATTACHMENT_<REPOSITORY|PLAN>_<OWNER>_<PRE|POST>_BACKUP_<N>_<PARAMETER>`` (N: the
hook's position in its list, from 1); upper case, every other character than A–Z and 0–9
becomes ``_``. Two objects whose names only differ in those characters (``a-b``, ``a_b``)
would share a variable: each of them then gets ``_`` and 8 hex digits of the SHA-256 of its
exact identity appended.
"""

import hashlib
import re
from dataclasses import dataclass

import yaml

from borgui.config.schema import HAS_STOP_CONTAINERS
from hooks.models import HookAttachment, HookType, Script
from notifications.models import Channel
from packages_admin.models import PackageInstall
from repositories.models import BackupPlan, Repository, SSHConnection


@dataclass
class EnvRef:
    """A secret written as the name of the variable that holds it."""

    identity: tuple[str, ...]
    base: str
    description: str
    name: str = ""


class Flow(dict):
    """A mapping written on one line, {a: 1, b: 2}."""


class FlowList(list):
    """A list written on one line, [a, b]."""


class _Dumper(yaml.SafeDumper):
    def increase_indent(self, flow=False, indentless=False):
        return super().increase_indent(flow, False)  # lists indented under their key


def _str(dumper, value: str):
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)
_Dumper.add_multi_representer(str, lambda dumper, value: _str(dumper, str(value)))  # TextChoices members
_Dumper.add_representer(EnvRef, lambda dumper, ref: _str(dumper, ref.name))
_Dumper.add_representer(Flow, lambda dumper, value: dumper.represent_mapping("tag:yaml.org,2002:map", value, True))
_Dumper.add_representer(FlowList, lambda dumper, value: dumper.represent_sequence("tag:yaml.org,2002:seq", value, True))
_Dumper.ignore_aliases = lambda self, data: True


def _variable_part(text: str) -> str:
    return re.sub(r"[^A-Z0-9]", "_", text.upper())


class _Exporter:
    def __init__(self):
        self.refs: list[EnvRef] = []

    def ref(self, identity: tuple[str, ...], description: str, parts: list[str] | None = None) -> EnvRef:
        """A secret's variable: BORGUI_ and its PARTS (by default, its identity) in capitals."""
        name_parts = identity if parts is None else parts
        ref = EnvRef(identity, "_".join(["BORGUI", *map(_variable_part, name_parts)]), description)
        self.refs.append(ref)
        return ref

    def name_refs(self) -> None:
        by_base: dict[str, list[EnvRef]] = {}
        for ref in self.refs:
            by_base.setdefault(ref.base, []).append(ref)
        for base, refs in by_base.items():
            for ref in refs:
                if len(refs) == 1:
                    ref.name = base
                else:
                    digest = hashlib.sha256("\0".join(ref.identity).encode()).hexdigest()[:8].upper()
                    ref.name = f"{base}_{digest}"

    # --- sections ---

    def ssh_connection(self, connection: SSHConnection) -> dict:
        out = {
            "name": connection.name,
            "host": connection.host,
            "port": connection.port,
            "username": connection.username,
        }
        if connection.private_key:
            out["private_key_env"] = self.ref(
                ("ssh", connection.name, "private_key"),
                f"private key of SSH connection {connection.name}",
            )
        if connection.known_hosts:
            out["known_hosts"] = connection.known_hosts
        return out

    def script(self, script: Script) -> dict:
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

    @staticmethod
    def parameter_values(script: Script, values: dict[str, str], secret_ref) -> dict:
        """A script's parameter values as written: secret ones as {env: VARIABLE}. Values of
        parameters the script no longer declares are not used (and apply_config would
        refuse them): they are left out."""
        declared = {p.name: p for p in script.parameters.all()}
        out = {}
        for name, value in sorted(values.items()):
            if name in declared:
                out[name] = {"env": secret_ref(name)} if declared[name].secret else value
        return out

    def hooks(self, owner, kind: str) -> dict:
        attachments = (
            HookAttachment.objects.filter(**{kind: owner})
            .select_related("script")
            .prefetch_related("script__parameters")
            .order_by("order", "id")
        )
        out = {}
        for hook_type in HookType.values:
            entries = []
            for position, attachment in enumerate((a for a in attachments if a.hook_type == hook_type), 1):
                script = attachment.script
                # SPEC §9's order: {script, on_failure, …} before, {script, run_on, on_failure, …} after.
                entry = Flow(script=script.name)
                if hook_type == HookType.POST_BACKUP:
                    entry["run_on"] = attachment.effective_run_on
                entry["on_failure"] = attachment.effective_on_failure
                if attachment.timeout is not None:
                    entry["timeout"] = attachment.timeout
                entry["enabled"] = attachment.enabled
                values = self.parameter_values(
                    script, attachment.values(),
                    lambda name, p=position, t=hook_type, s=script: self.ref(
                        (kind, owner.name, t, str(p), name),
                        f"{name} of the {t} hook {p} ({s.name}) of {kind} {owner.name}",
                        parts=["ATTACHMENT", kind, owner.name, t, str(p), name],
                    ),
                )  # fmt: skip
                if values:
                    entry["parameters"] = values
                entries.append(entry)
            out[hook_type] = entries
        return out

    def repository(self, repository: Repository) -> dict:
        out = {"name": repository.name, "path": repository.location, "encryption": repository.encryption}
        if repository.passphrase:
            out["passphrase_env"] = self.ref(
                ("repository", repository.name, "passphrase"),
                f"passphrase of repository {repository.name}",
            )
        if repository.exported_key:
            out["exported_key_env"] = self.ref(
                ("repository", repository.name, "exported_key"),
                f"borg key (keyfile mode) of repository {repository.name}",
            )
        if repository.source_connection_id:
            out["source_connection"] = repository.source_connection.name
        if repository.pre_backup_script:
            out["pre_backup_script"] = repository.pre_backup_script
        if repository.post_backup_script:
            out["post_backup_script"] = repository.post_backup_script
        out.update(self.repository_maintenance(repository))
        out["hooks"] = self.hooks(repository, "repository")
        return out

    # --- maintenance (docs/maintenance.md) ---

    @staticmethod
    def _schedule(cron: str, zone: str) -> Flow:
        out = Flow()
        if cron:
            out["schedule"] = cron
        if zone:
            out["timezone"] = zone
        return out

    def repository_maintenance(self, repository: Repository) -> dict:
        settings = getattr(repository, "maintenance", None)  # none: an AttributeError
        if settings is None:
            return {}
        out = {}
        check = self._schedule(settings.check_schedule, settings.check_timezone)
        if settings.check_verify_data:
            check["verify_data"] = True
        if settings.check_max_duration:
            check["max_duration"] = settings.check_max_duration
        if check:
            out["check"] = check
        compact = self._schedule(settings.compact_schedule, settings.compact_timezone)
        if compact:
            out["compact"] = compact
        if not settings.compact_after_prune:
            out["compact_after_prune"] = False
        return out

    def plan_maintenance(self, plan: BackupPlan) -> dict:
        settings = getattr(plan, "maintenance", None)
        if settings is None:
            return {}
        out = {}
        if not settings.verify_is_default:
            verify = self._schedule(settings.verify_schedule, settings.verify_timezone)
            verify["sample_percent"] = _number(settings.sample_percent)
            verify["count_tolerance_percent"] = _number(settings.count_tolerance_percent)
            out["verify"] = verify
        if settings.drill_script_id:
            script = settings.drill_script
            drill = {"script": script.name}
            if settings.drill_paths:
                drill["paths"] = FlowList(settings.drill_paths)
            drill.update(self._schedule(settings.drill_schedule, settings.drill_timezone))
            values = self.parameter_values(
                script, settings.drill_values(),
                lambda name: self.ref(
                    ("plan", plan.name, "drill", name),
                    f"{name} of the restore drill ({script.name}) of plan {plan.name}",
                    parts=["PLAN", plan.name, "DRILL", name],
                ),
            )  # fmt: skip
            if values:
                drill["parameters"] = Flow(values)
            out["drill"] = drill
        return out

    # --- end maintenance ---

    def plan(self, plan: BackupPlan) -> dict:
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
        retention = Flow(
            (name, getattr(plan, name)) for name in BackupPlan.RETENTION_FIELDS if getattr(plan, name) not in (None, "")
        )
        if retention:
            out["retention"] = retention
        if HAS_STOP_CONTAINERS and plan.stop_containers:
            out["stop_containers"] = FlowList(plan.stop_containers)
        monitoring = getattr(plan, "monitoring", None)  # a plan without one raises an AttributeError
        if monitoring is not None and monitoring.ping_url:
            out["ping_url_env"] = self.ref(("plan", plan.name, "ping_url"), f"ping URL of plan {plan.name}")
        if monitoring is not None and monitoring.alert_after_hours is not None:
            out["alert_after_hours"] = monitoring.alert_after_hours
        out.update(self.plan_maintenance(plan))
        out["hooks"] = self.hooks(plan, "plan")
        return out

    def notification(self, channel: Channel) -> dict:
        out = {"name": channel.name}
        if channel.url:
            out["url_env"] = self.ref(
                ("notification", channel.name, "url"), f"Apprise URL of notification channel {channel.name}"
            )
        out["events"] = FlowList(channel.events)
        if not channel.all_plans:
            out["plans"] = FlowList(sorted(plan.name for plan in channel.plans.all()))
        return out

    def document(self) -> dict:
        by_name = lambda objects: sorted(objects, key=lambda o: o.name)  # noqa: E731 - the same order on any database
        document = {
            "ssh_connections": [self.ssh_connection(c) for c in by_name(SSHConnection.objects.all())],
            "scripts": [self.script(s) for s in by_name(Script.objects.prefetch_related("parameters"))],
            "repositories": [
                self.repository(r)
                for r in by_name(Repository.objects.select_related("source_connection", "maintenance"))
            ],
            "plans": [
                self.plan(p)
                for p in by_name(
                    BackupPlan.objects.select_related("source_connection", "monitoring", "maintenance__drill_script")
                )
            ],
            "packages": [p.name for p in by_name(PackageInstall.objects.all())],
            "notifications": [self.notification(c) for c in by_name(Channel.objects.prefetch_related("plans"))],
        }
        self.name_refs()
        return document

    def header(self) -> str:
        lines = [
            "# borgui configuration, written by `manage.py export_config`.",
            "# Apply it with `manage.py apply_config FILE` (objects are matched by name).",
        ]
        if not self.refs:
            lines.append("# It holds no secrets.")
        else:
            lines += [
                "# Secrets are not in this file: applying it reads each one from an environment",
                "# variable. Set these:",
            ]
            lines += [f"#   {ref.name}: {ref.description}" for ref in self.refs]
        return "\n".join(lines) + "\n"


def _number(value: float):
    """5.0 is written 5, as a person would write it."""
    return int(value) if float(value).is_integer() else value


def export_text() -> str:
    exporter = _Exporter()
    document = exporter.document()
    body = yaml.dump(
        document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False, width=1 << 16
    )
    return exporter.header() + body
