"""How sizes, durations and moments are shown to people: one rule for every page,
message and command (docs/running-plans.md, "Reading a run")."""

from datetime import datetime, timedelta, tzinfo

from django.utils import timezone

DASH = "—"


def human_size(value) -> str:
    """Decimal units, as borg prints them (341.2 MB)."""
    if value is None or value == "":  # "": a template's missing value
        return DASH
    size = float(value)
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if abs(size) < 1000 or unit == "PB":
            return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size} B"


def signed_size(value) -> str:
    return ("-" if value < 0 else "+") + human_size(abs(value))


def _seconds(value: timedelta | float | int | None) -> int | None:
    if value is None:
        return None
    return int(value.total_seconds() if isinstance(value, timedelta) else value)


def human_duration(value: timedelta | float | int | None) -> str:
    """The two largest units: "1 h 2 min", "3 min 5 s", "12 s"."""
    seconds = _seconds(value)
    if seconds is None:
        return DASH
    days, rest = divmod(max(seconds, 0), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "min"), (seconds, "s")]
    shown = [f"{amount} {unit}" for amount, unit in parts if amount][:2]
    return " ".join(shown) or "0 s"


def when(moment: datetime | None, zone: tzinfo | None = None) -> str:
    """A moment with seconds and its time zone, in ZONE (default borgui's TIME_ZONE)."""
    if not moment:
        return DASH
    return timezone.localtime(moment, zone).strftime("%Y-%m-%d %H:%M:%S %Z")


def ago(moment: datetime | None, now: datetime | None = None) -> str:
    if not moment:
        return DASH
    delta = (now or timezone.now()) - moment
    if delta.total_seconds() < 0:
        return "in " + human_duration(-delta)
    return human_duration(delta) + " ago"
