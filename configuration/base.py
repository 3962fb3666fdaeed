"""What every kind of object shares on its way from the file into the database."""

from dataclasses import dataclass, field

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

from configuration.problems import Problem, index_path, key_path
from hooks.models import HookAttachment


@dataclass
class HookEntry:
    """One hook of a `hooks:` list: where it is in the file, its script, and the attachment."""

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
    hooks: dict[str, list[HookEntry]] | None = None
    # What a kind needs beyond its model fields, read in prepare, used in write:
    parameters: list[tuple] = field(default_factory=list)  # scripts: the declared parameters
    approve: bool = False  # scripts: `approved: true` approves the body
    revoke: bool = False  # scripts: `approved: false` revokes the approval
    source_connection: str | None = None  # repositories, plans: by name
    init: bool = False  # repositories: run borg init after the write
    repositories: list[str] = field(default_factory=list)  # plans: in order
    monitoring: object = None  # plans: the PlanMonitoring (ping_url, alert_after_hours) to write
    plans: list[str] | None = None  # notifications: the channel's plans; None: every plan
    maintenance: object = None  # repositories, plans: their maintenance settings (docs/maintenance.md)
    drill_script: str | None = None  # plans: the drill's script, by name

    @property
    def path(self) -> str:
        return index_path(self.section, self.index)


def default(model, name: str):
    return model._meta.get_field(name).get_default()


def problems_of(error: ValidationError, path: str, keys: dict[str, str]) -> list[Problem]:
    """A model's ValidationError as problems at the keys of the file."""
    if not hasattr(error, "error_dict"):
        return [Problem(path, message) for message in error.messages]
    problems = []
    for name, messages in error.message_dict.items():
        key = keys.get(name) if name != NON_FIELD_ERRORS else None
        for message in messages:
            problems.append(Problem(key_path(path, key) if key else path, message))
    return problems


def full_clean(obj, path: str, keys: dict[str, str], exclude=()) -> list[Problem]:
    try:
        obj.full_clean(exclude=list(exclude), validate_unique=False, validate_constraints=False)
    except ValidationError as e:
        return problems_of(e, path, keys)
    return []


def validate_unique(obj, path: str, keys: dict[str, str]) -> list[Problem]:
    try:
        obj.validate_unique()
    except ValidationError as e:
        return problems_of(e, path, keys)
    return []


_UNSET = object()


def state(obj, fields, source_connection=_UNSET) -> dict:
    """The values of FIELDS; a source connection by its name (SOURCE_CONNECTION: the one to be set)."""
    values = {}
    for name in fields:
        if name != "source_connection":
            values[name] = getattr(obj, name)
        elif source_connection is not _UNSET:
            values[name] = source_connection
        else:
            values[name] = obj.source_connection.name if obj.source_connection_id else None
    return values


def changes(before: dict, after: dict, keys: dict[str, str]) -> list[str]:
    """The keys of the file whose values differ."""
    return [key for name, key in keys.items() if name in before and before[name] != after[name]]


# --- what export writes ------------------------------------------------------------------------


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
