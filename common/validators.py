"""Generic validation rules: names of objects, time zones."""

import zoneinfo

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator

validate_object_name = RegexValidator(
    r"\A[A-Za-z0-9][A-Za-z0-9_.-]{0,99}\Z",
    "Use 1–100 letters, digits, '-', '_' or '.', starting with a letter or digit.",
    code="invalid_name",
)


def validate_timezone(value: str) -> None:
    if not value:
        return
    try:
        zoneinfo.ZoneInfo(value)
    # OSError: a directory of the zone database ("America") or a name too long for a file.
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise ValidationError(
            f"{value!r} is not an IANA time zone (for example Europe/Berlin).", code="invalid_tz"
        ) from None
