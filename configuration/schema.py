"""The shape of a configuration file (docs/configuration.md#keys): sections, keys, types, and secrets.

``check(document)`` walks the parsed YAML and returns it normalised (only the keys that
were given, secrets resolved from the environment or files), or the problems found, each
with its key path (``plans[0].hooks.pre-backup[1].on_failure``). Only the shape is checked
here; every rule about values (names, cron, compression, ranges…) is the models' and is
applied by ``configuration.apply``. The shape of each kind's entries is in its module of
``configuration.kinds``. A key whose value is null counts as not given.
"""

import difflib
import os
from dataclasses import dataclass
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.validators import ProhibitNullCharactersValidator

from configuration.problems import Problem, index_path, key_path

SECRET_FILE_MAX_BYTES = 1024 * 1024
_no_nul = ProhibitNullCharactersValidator()


@dataclass(frozen=True)
class Secret:
    """A secret's value and the key it was given with (passphrase, passphrase_env or passphrase_file)."""

    value: str
    key: str


class Context:
    def __init__(self, env):
        self.env = os.environ if env is None else env
        self.problems: list[Problem] = []

    def error(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))


INVALID = object()


def _kind(value) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__} (quote it to make it a string)"


class Node:
    def check(self, value, path: str, ctx: Context):
        raise NotImplementedError


class Text(Node):
    def __init__(self, allow_int: bool = False):
        self.allow_int = allow_int

    def check(self, value, path, ctx):
        if self.allow_int and isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if not isinstance(value, str):
            ctx.error(path, f"must be a string, not {_kind(value)}")
            return INVALID
        try:
            _no_nul(value)
        except ValidationError as e:
            ctx.error(path, e.messages[0])
            return INVALID
        return value


class Number(Node):
    def check(self, value, path, ctx):
        if isinstance(value, bool) or not isinstance(value, int | float):
            ctx.error(path, f"must be a number, not {_kind(value)}")
            return INVALID
        return value


class Int(Node):
    def check(self, value, path, ctx):
        if isinstance(value, bool) or not isinstance(value, int):
            shown = f"{value!r}" if isinstance(value, float) else _kind(value)
            ctx.error(path, f"must be a whole number, not {shown}")
            return INVALID
        return value


class Bool(Node):
    def check(self, value, path, ctx):
        if not isinstance(value, bool):
            ctx.error(path, f"must be true or false, not {_kind(value)}")
            return INVALID
        return value


class Choice(Node):
    def __init__(self, choices):
        self.choices = list(choices)

    def check(self, value, path, ctx):
        if not isinstance(value, str) or value not in self.choices:
            ctx.error(path, f"must be one of {', '.join(self.choices)}")
            return INVALID
        return value


class ListOf(Node):
    def __init__(self, item: Node):
        self.item = item

    def check(self, value, path, ctx):
        if not isinstance(value, list):
            ctx.error(path, f"must be a list, not {_kind(value)}")
            return INVALID
        out = [self.item.check(item, index_path(path, i), ctx) for i, item in enumerate(value)]
        return INVALID if any(item is INVALID for item in out) else out


def _read_secret_file(name: str, path: str, ctx: Context, strip_newline: bool):
    try:
        with Path(name).open("rb") as f:
            data = f.read(SECRET_FILE_MAX_BYTES + 1)
    except OSError as e:
        ctx.error(path, f"cannot read {name}: {e.strerror or e}")
        return INVALID
    if len(data) > SECRET_FILE_MAX_BYTES:
        ctx.error(path, f"{name} is larger than {SECRET_FILE_MAX_BYTES} bytes")
        return INVALID
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        ctx.error(path, f"{name} is not UTF-8 text")
        return INVALID
    if strip_newline:
        # `echo secret > file` and Docker secrets end in a newline that is not part of the value.
        text = text.removesuffix("\n").removesuffix("\r")
    return text


def _read_env(name: str, path: str, ctx: Context):
    if name not in ctx.env:
        ctx.error(path, f"environment variable {name} is not set")
        return INVALID
    return ctx.env[name]


class SecretSource:
    """A secret given inline (KEY), from the environment (KEY_env) or from a file (KEY_file)."""

    def __init__(self, key: str, strip_newline: bool = True):
        self.key = key
        self.strip_newline = strip_newline

    @property
    def keys(self) -> tuple[str, str, str]:
        return self.key, f"{self.key}_env", f"{self.key}_file"

    def check(self, mapping: dict, path: str, ctx: Context):
        given = [key for key in self.keys if key in mapping]
        if not given:
            return None
        if len(given) > 1:
            ctx.error(path, f"give only one of {', '.join(given)}")
            return INVALID
        key = given[0]
        raw = Text().check(mapping[key], key_path(path, key), ctx)
        if raw is INVALID:
            return INVALID
        if key.endswith("_env"):
            value = _read_env(raw, key_path(path, key), ctx)
        elif key.endswith("_file"):
            value = _read_secret_file(raw, key_path(path, key), ctx, self.strip_newline)
        else:
            value = raw
        if value is INVALID:
            return INVALID
        value = Text().check(value, key_path(path, key), ctx)
        return INVALID if value is INVALID else Secret(value, key)


class ParameterValue(Node):
    """An attachment's parameter value: a string (or number), {env: VAR} or {file: PATH}."""

    def check(self, value, path, ctx):
        if isinstance(value, dict):
            if len(value) != 1 or next(iter(value)) not in ("env", "file"):
                ctx.error(path, "must be a string, {env: VARIABLE} or {file: PATH}")
                return INVALID
            ((source, name),) = value.items()
            name = Text().check(name, key_path(path, source), ctx)
            if name is INVALID:
                return INVALID
            if source == "env":
                resolved = _read_env(name, key_path(path, source), ctx)
            else:
                resolved = _read_secret_file(name, key_path(path, source), ctx, strip_newline=True)
            if resolved is INVALID:
                return INVALID
            return Text().check(resolved, key_path(path, source), ctx)
        if isinstance(value, bool) or not isinstance(value, str | int):
            ctx.error(path, f"must be a string, {{env: VARIABLE}} or {{file: PATH}}, not {_kind(value)}")
            return INVALID
        return Text(allow_int=True).check(value, path, ctx)


class NamedValues(Node):
    """A mapping of names (any) to values, e.g. an attachment's parameters."""

    def __init__(self, value: Node):
        self.value = value

    def check(self, value, path, ctx):
        if not isinstance(value, dict):
            ctx.error(path, f"must be a mapping of NAME: value, not {_kind(value)}")
            return INVALID
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                ctx.error(key_path(path, key), f"a parameter name must be a string, not {_kind(key)}")
                out[key] = INVALID
                continue
            out[key] = self.value.check(item, key_path(path, key), ctx)
        return INVALID if INVALID in out.values() else out


class Mapping(Node):
    def __init__(self, fields: dict[str, Node], required=(), secrets=()):
        self.fields = fields
        self.required = tuple(required)
        self.secrets = tuple(secrets)

    @property
    def allowed(self) -> list[str]:
        names = list(self.fields)
        for secret in self.secrets:
            names.extend(secret.keys)
        return names

    def check(self, value, path, ctx):
        if not isinstance(value, dict):
            ctx.error(path or "(top level)", f"must be a mapping, not {_kind(value)}")
            return INVALID
        before = len(ctx.problems)
        allowed = self.allowed
        out = {}
        for key, item in value.items():
            if key not in allowed:
                ctx.error(key_path(path, key), _unknown_key(key, allowed))
                continue
            if item is None or key not in self.fields:
                continue  # null: as if not given; secrets are read below
            out[key] = self.fields[key].check(item, key_path(path, key), ctx)
        for secret in self.secrets:
            given = {k: v for k, v in value.items() if k in secret.keys and v is not None}
            resolved = secret.check(given, path, ctx)
            if resolved is not None:
                out[secret.key] = resolved
        for key in self.required:
            if value.get(key) is None:
                ctx.error(key_path(path, key), "required")
        return INVALID if len(ctx.problems) > before else out


def _unknown_key(key, allowed: list[str]) -> str:
    message = f"unknown key (allowed: {', '.join(allowed)})"
    if isinstance(key, str):
        close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
        if close:
            message = f"unknown key (did you mean {close[0]}?)"
    return message


def check(document, shape: Mapping, source: str, env=None) -> tuple[dict, list[Problem]]:
    """The normalised DOCUMENT and the problems with its SHAPE (empty when it is valid)."""
    ctx = Context(env)
    if document is None:
        return {}, []
    if not isinstance(document, dict):
        ctx.error(source, f"the top level must be a mapping of {', '.join(shape.allowed)}, not {_kind(document)}")
        return {}, ctx.problems
    out = shape.check(document, "", ctx)
    return ({} if out is INVALID else out), ctx.problems
