"""borg 1.2 writes times in the local time of the machine running it, without an offset."""

from datetime import UTC, datetime


def parse(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.astimezone()  # naive: this machine's local time, as borg wrote it
    return moment.astimezone(UTC)
