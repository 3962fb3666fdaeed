"""``notifications:`` entries: a notification channel by name (docs/notifications.md)."""

from configuration import base, schema
from configuration.base import FlowList
from configuration.problems import Problem, index_path, key_path
from notifications.models import Channel, EventKind

SECTION, KIND, MODEL = "notifications", "notification", Channel
# model field → key in the file (the URL is a secret: url, url_env or url_file)
KEYS = {"name": "name", "url": "url", "events": "events"}
# Omitted `plans`: every plan.
SHAPE = schema.Mapping(
    {
        "name": schema.Text(),
        "events": schema.ListOf(schema.Choice(EventKind.values)),
        "plans": schema.ListOf(schema.Text()),
    },
    required=["name"],
    secrets=[schema.SecretSource("url")],
)


def queryset():
    return Channel.objects.prefetch_related("plans")


def _plans(channel: Channel) -> list[str] | None:
    return None if channel.all_plans else sorted(plan.name for plan in channel.plans.all())


def prepare(applier, index: int, data: dict) -> None:
    item = applier.item(SECTION, index, data, Channel)
    channel = item.obj
    before = {**base.state(channel, KEYS), "plans": None if item.new else _plans(channel)}
    channel.events = data.get("events", EventKind.defaults())
    keys = dict(KEYS)
    if "url" in data:  # not given: the stored one is kept (as in the admin)
        channel.url = data["url"].value
        keys["url"] = data["url"].key
    applier.problems += base.full_clean(channel, item.path, keys)
    plans = data.get("plans")
    for j, name in enumerate(plans or []):
        if name not in applier.known("plans"):
            applier.problems.append(Problem(index_path(key_path(item.path, "plans"), j), f"no plan named {name}"))
    channel.all_plans = plans is None
    item.plans = plans
    after = {**base.state(channel, KEYS), "plans": None if plans is None else sorted(set(plans))}
    item.changes = base.changes(before, after, {**KEYS, "plans": "plans"})
    applier.items[SECTION].append(item)


def write(applier) -> None:
    plans = applier.objects("plans")
    for item in applier.items[SECTION]:
        if applier.save(item, KEYS) and (item.new or "plans" in item.changes):
            item.obj.plans.set([plans[name] for name in item.plans or []])


def export(exporter, channel: Channel) -> dict:
    out = {"name": channel.name}
    if channel.url:
        out["url_env"] = exporter.ref(
            ("notification", channel.name, "url"), f"Apprise URL of notification channel {channel.name}"
        )
    out["events"] = FlowList(channel.events)
    if not channel.all_plans:
        out["plans"] = FlowList(_plans(channel))
    return out
