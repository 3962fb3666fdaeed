"""Validation rules shared by every model, admin form and ``apply_config`` (SPEC §1, §9)."""

import re
import zoneinfo

from croniter import croniter
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator

validate_object_name = RegexValidator(
    r"\A[A-Za-z0-9][A-Za-z0-9_.-]{0,99}\Z",
    "Use 1–100 letters, digits, '-', '_' or '.', starting with a letter or digit.",
    code="invalid_name",
)

_COMPRESSION = re.compile(
    r"\A(?:auto,)?(?:none|lz4|zstd(?:,(?:[1-9]|1[0-9]|2[0-2]))?|zlib(?:,[0-9])?|lzma(?:,[0-9])?)\Z"
)


def validate_compression(value: str) -> None:
    if not _COMPRESSION.match(value or ""):
        raise ValidationError(
            "Use a borg compression: none, lz4, zstd,1–22, zlib,0–9 or lzma,0–9, optionally prefixed with auto,",
            code="invalid_compression",
        )


def validate_cron(value: str) -> None:
    if not value:
        return
    if len(value.split()) != 5 or not croniter.is_valid(value):
        raise ValidationError(
            "Use a cron schedule of five fields: minute hour day-of-month month day-of-week.", code="invalid_cron"
        )


def validate_timezone(value: str) -> None:
    if not value:
        return
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationError(
            f"{value!r} is not an IANA time zone (for example Europe/Berlin).", code="invalid_tz"
        ) from None


_BORG_INTERVAL = re.compile(r"\A[1-9][0-9]*[Hdwmy]\Z")


def validate_borg_interval(value: str) -> None:
    if value and not _BORG_INTERVAL.match(value):
        raise ValidationError(
            "Use a borg interval: a number and a unit, H (hours), d, w, m (months) or y, e.g. 7d.",
            code="invalid_interval",
        )


def validate_repository_location(value: str) -> None:
    if "::" in value:
        raise ValidationError("A repository location never contains '::' (that separates the archive name).")
    if value.startswith("ssh://"):
        if not re.match(r"\Assh://(?:[^@/\s]+@)?[^@/:\s]+(?::[0-9]{1,5})?/.+\Z", value):
            raise ValidationError("Use ssh://user@host:port/path for a remote repository.")
        return
    if not value.startswith("/"):
        raise ValidationError("Use an absolute local path (/backups/main) or ssh://user@host:port/path.")
    if any(ch in value for ch in "\n\r\0"):
        raise ValidationError("A repository location is one line.")
