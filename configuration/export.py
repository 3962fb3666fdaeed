"""``export_config``: the database as the YAML ``apply_config`` reads (docs/configuration.md#exporting).

Sections and keys in the order of docs/configuration.md#the-file, objects by name. Never a secret: each one is
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

import yaml

from configuration.base import EnvRef, Flow, FlowList
from configuration.kinds import KINDS


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

    def document(self) -> dict:
        by_name = lambda objects: sorted(objects, key=lambda o: o.name)  # noqa: E731 - the same order on any database
        document = {kind.SECTION: [kind.export(self, obj) for obj in by_name(kind.queryset())] for kind in KINDS}
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


def export_text() -> str:
    exporter = _Exporter()
    document = exporter.document()
    body = yaml.dump(
        document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False, width=1 << 16
    )
    return exporter.header() + body
