"""Rules about backups shared by the models, admin forms, ``apply_config`` and the borg
driver: compression, schedules, borg intervals, SSH hosts and repository locations."""

import ipaddress
import re
from datetime import UTC, datetime

from croniter import CroniterBadDateError, croniter
from django.core.exceptions import ValidationError

_COMPRESSION = re.compile(
    r"\A(?:auto,)?(?:none|lz4|zstd(?:,(?:[1-9]|1[0-9]|2[0-2]))?|zlib(?:,[0-9])?|lzma(?:,[0-9])?)\Z"
)


def validate_compression(value: str) -> None:
    if not _COMPRESSION.match(value or ""):
        raise ValidationError(
            "Use a borg compression: none, lz4, zstd,1–22, zlib,0–9 or lzma,0–9, optionally prefixed with auto,",
            code="invalid_compression",
        )


# cron's aliases (docs/configuration.md#validation); croniter reads them itself.
CRON_ALIASES = ("@hourly", "@daily", "@weekly", "@monthly", "@yearly")

# The five fields in order: (name, lowest, highest, names allowed instead of numbers).
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_CRON_FIELDS = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _WEEKDAYS),  # 0 and 7 are both Sunday
)
_CRON_ITEM = re.compile(r"\A(?:\*|(?P<low>[0-9a-z]+)(?:-(?P<high>[0-9a-z]+))?)(?:/(?P<step>[0-9]+))?\Z")
CRON_HELP = (
    "Use five fields (minute hour day-of-month month day-of-week, e.g. 30 2 * * *) "
    "or one of " + ", ".join(CRON_ALIASES) + "."
)


def _cron_field_problem(text: str, name: str, low: int, high: int, names: tuple[str, ...]) -> str | None:
    """Why one cron field is wrong ("minute 61 is out of range 0–59"), or None."""
    for item in text.lower().split(","):
        match = _CRON_ITEM.match(item)
        if not match:
            return f"{name} {text!r} is not a cron field"
        if match["step"] is not None and int(match["step"]) == 0:
            return f"{name} {text!r}: a step of 0 never advances"
        for value in (match["low"], match["high"]):
            if value is None or value.isdigit() and low <= int(value) <= high or value in names:
                continue
            if value.isdigit():
                return f"{name} {value} is out of range {low}–{high}"
            return f"{name} {value!r} is not a number"
    return None


def cron_problem(value: str) -> str | None:
    """The first thing wrong with a schedule, in one sentence; None when cron can read it."""
    if value.startswith("@"):
        return None if value in CRON_ALIASES else f"{value!r} is not a cron alias. {CRON_HELP}"
    fields = value.split()
    if len(fields) != 5:
        return f"{value!r} has {len(fields)} field{'s' if len(fields) != 1 else ''}. {CRON_HELP}"
    for text, (name, low, high, names) in zip(fields, _CRON_FIELDS, strict=True):
        if problem := _cron_field_problem(text, name, low, high, names):
            return f"{problem}. {CRON_HELP}"
    if not croniter.is_valid(value):
        return f"{value!r} is not a valid schedule. {CRON_HELP}"
    return None


def validate_cron(value: str) -> None:
    if not value:
        return
    if problem := cron_problem(value):
        raise ValidationError(problem, code="invalid_cron")
    if cron_next_run(value, datetime.now(UTC)) is None:
        raise ValidationError(f"{value!r}: this schedule never runs.", code="cron_never_runs")


def cron_next_run(value: str, after: datetime) -> datetime | None:
    """The first time after ``after`` that a valid cron schedule fires; None when it never does
    (0 0 31 2 *: croniter accepts it, then finds no date)."""
    return next(iter(cron_next_runs(value, after, 1)), None)


def cron_next_runs(value: str, after: datetime, count: int) -> list[datetime]:
    """Up to COUNT next slots of a valid schedule after AFTER (in AFTER's zone)."""
    try:
        schedule = croniter(value, after)
        return [schedule.get_next(datetime) for _ in range(count)]
    except (CroniterBadDateError, ValueError):
        return []


_BORG_INTERVAL = re.compile(r"\A[1-9][0-9]*[Hdwmy]\Z")


def validate_borg_interval(value: str) -> None:
    if value and not _BORG_INTERVAL.match(value):
        raise ValidationError(
            "Use a borg interval: a number and a unit, H (hours), d, w, m (months) or y, e.g. 7d.",
            code="invalid_interval",
        )


# A repository location and an SSH connection share these rules (docs/security.md): ssh
# reads a host or user that starts with "-" as one of its own options (-oProxyCommand=…
# runs a command), so neither may, and nothing may contain whitespace or control characters.
_SSH_USER = re.compile(r"\A[A-Za-z0-9._][A-Za-z0-9._-]{0,99}\Z")
_HOST_NAME = re.compile(r"\A(?=.{1,253}\Z)[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9][A-Za-z0-9-]{0,62})*\.?\Z")
_DOTTED_NUMBERS = re.compile(r"\A[0-9.]+\Z")
_SSH_LOCATION = re.compile(
    r"\Assh://(?:(?P<user>[^@/]*)@)?(?P<host>\[[^\]/]*\]|[^@/:\[\]]*)(?::(?P<port>[^/]*))?(?P<path>/.*)\Z"
)
SSH_USER_RULE = "a plain user name: letters, digits, '.', '_' or '-', not starting with '-'"
SSH_HOST_RULE = "a host name, an IPv4 address or an IPv6 address, never starting with '-'"
SSH_PORT_RULE = "a port from 1 to 65535"


def ssh_user_problem(value: str) -> str | None:
    return None if _SSH_USER.match(value) else f"Use {SSH_USER_RULE}."


def ssh_host_problem(value: str, *, bracketed_ipv6: bool = False) -> str | None:
    """None when ``value`` is a host ssh may be given; in a location an IPv6 address is in brackets."""
    if bracketed_ipv6 and value.startswith("["):
        return None if value.endswith("]") and _is_ip(value[1:-1], 6) else f"Use {SSH_HOST_RULE}."
    if ":" in value:
        return None if not bracketed_ipv6 and _is_ip(value, 6) else f"Use {SSH_HOST_RULE}."
    if _DOTTED_NUMBERS.match(value):
        return None if _is_ip(value, 4) else f"Use {SSH_HOST_RULE}."
    return None if _HOST_NAME.match(value) else f"Use {SSH_HOST_RULE}."


def ssh_port_problem(value) -> str | None:
    text = str(value)
    return None if text.isdigit() and text.isascii() and 1 <= int(text) <= 65535 else f"Use {SSH_PORT_RULE}."


def _is_ip(value: str, version: int) -> bool:
    try:
        return ipaddress.ip_address(value).version == version
    except ValueError:
        return False


def repository_location_problem(value: str) -> str | None:
    """Why ``value`` is not a repository location, in one line; None when it is one.

    The one rule for the admin, ``apply_config`` and the borg driver (which refuses to run
    on a stored location that fails it): docs/security.md.
    """
    if not value:
        return "A repository location is needed."
    if any(ch.isspace() or not ch.isprintable() for ch in value):
        return "A repository location has no spaces, line breaks or control characters."
    if "::" in value:
        return "A repository location never contains '::' (that separates the archive name)."
    if not value.startswith("ssh://"):
        if not value.startswith("/"):
            return "Use an absolute local path (/backups/main) or ssh://user@host:port/path."
        return None
    parts = _SSH_LOCATION.match(value)
    if parts is None or len(parts["path"]) < 2:
        return "Use ssh://user@host:port/path for a remote repository (the path is not empty)."
    if parts["user"] is not None and (problem := ssh_user_problem(parts["user"])):
        return f"The user in {value!r} is not allowed. {problem}"
    if problem := ssh_host_problem(parts["host"], bracketed_ipv6=True):
        return f"The host in {value!r} is not allowed. {problem}"
    if parts["port"] is not None and (problem := ssh_port_problem(parts["port"])):
        return f"The port in {value!r} is not allowed. {problem}"
    return None


def validate_repository_location(value: str) -> None:
    if problem := repository_location_problem(value):
        raise ValidationError(problem, code="invalid_location")
