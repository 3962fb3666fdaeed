"""Notification channels, the events they hear of, every delivery attempt, and the
per-plan monitoring settings (ping URL, stale alert). See docs/notifications.md."""

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.urls import reverse
from django.utils import timezone

from common.fields import EncryptedTextField
from common.validators import validate_object_name
from notifications.services import urls
from repositories.status import Status

MAX_INT = 2**31 - 1


class EventKind(models.TextChoices):
    START = "start"
    SUCCESS = "success"
    WARNING = "warning"
    FAILURE = "failure"
    SKIPPED = "skipped"
    STALE = "stale"
    CONTAINERS = "containers"
    RESTORE = "restore"
    CHECK = "check"
    VERIFY = "verify"

    @classmethod
    def defaults(cls) -> list[str]:
        """What a new channel hears of: what needs someone to act."""
        return [cls.FAILURE.value, cls.STALE.value, cls.CONTAINERS.value, cls.CHECK.value, cls.VERIFY.value]

    @classmethod
    def for_run(cls, status: str) -> "EventKind":
        return cls(Status(status).value)

    @property
    def is_run_status(self) -> bool:
        return self in (EventKind.SUCCESS, EventKind.WARNING, EventKind.FAILURE, EventKind.SKIPPED)

    @property
    def apprise_type(self) -> str:
        """Apprise's notify type (the colour or icon a service shows)."""
        return _APPRISE_TYPES.get(self, "failure")


_APPRISE_TYPES = {
    EventKind.START: "info",
    EventKind.RESTORE: "info",
    EventKind.SUCCESS: "success",
    EventKind.WARNING: "warning",
    EventKind.SKIPPED: "warning",
    EventKind.STALE: "warning",
}


def default_events() -> list[str]:
    return EventKind.defaults()


def events_problem(events) -> str:
    if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
        return "Give a list of events."
    unknown = [e for e in events if e not in EventKind.values]
    if unknown:
        return f"Unknown event {unknown[0]!r} (events: {', '.join(EventKind.values)})."
    if len(set(events)) != len(events):
        return "An event is listed twice."
    return ""


class Channel(models.Model):
    name = models.CharField(max_length=100, unique=True, validators=[validate_object_name])
    url = EncryptedTextField(
        verbose_name="Apprise URL",
        help_text="e.g. ntfys://ntfy.sh/TOPIC, gotify://HOST/TOKEN, discord://ID/TOKEN, mailtos://…, json://HOST/PATH. "
        "A secret: encrypted, shown as its scheme only.",
    )
    events = models.JSONField(default=default_events, help_text=f"Any of: {', '.join(EventKind.values)}.")
    all_plans = models.BooleanField(
        default=True, help_text="Every plan; otherwise only the plans chosen below (and their repositories)."
    )
    plans = models.ManyToManyField("repositories.BackupPlan", blank=True, related_name="notification_channels")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "notification channel"

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("admin:notifications_channel_change", args=[self.pk])

    @property
    def shown_url(self) -> str:
        return urls.shown(self.url)

    def clean(self):
        errors = {}
        problem = urls.apprise_url_problem(self.url)
        if problem:
            errors["url"] = problem
        problem = events_problem(self.events)
        if problem:
            errors["events"] = problem
        if errors:
            raise ValidationError(errors)

    def hears(self, kind: str, plan_ids: set[int], scope_ids: set[int]) -> bool:
        """Does this channel want KIND about something of PLAN_IDS? (SCOPE_IDS: this channel's plans.)"""
        return kind in self.events and (self.all_plans or bool(plan_ids & scope_ids))


class PlanMonitoring(models.Model):
    """A plan's ping URL and stale alert (kept beside the plan, so the backup core knows nothing of them)."""

    plan = models.OneToOneField("repositories.BackupPlan", on_delete=models.CASCADE, related_name="monitoring")
    ping_url = EncryptedTextField(
        verbose_name="ping URL",
        help_text="healthchecks.io-style URL: /start when a run starts, the URL on success, /fail on failure. "
        "A secret: encrypted, shown as its scheme only.",
    )
    alert_after_hours = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_INT)],
        help_text="Send a stale event when the newest successful run is older than this. Empty: never.",
    )
    # The open stale episode (one event per episode; the next success or warning ends it).
    stale_since = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "monitoring"
        verbose_name_plural = "monitoring"

    def __str__(self):
        return f"monitoring of {self.plan}"

    def clean(self):
        problem = urls.ping_url_problem(self.ping_url)
        if problem:
            raise ValidationError({"ping_url": problem})

    @property
    def is_empty(self) -> bool:
        return not self.ping_url and self.alert_after_hours is None


class Event(models.Model):
    """Something a channel may hear of, recorded when it happens and delivered by a worker."""

    kind = models.CharField(max_length=12, choices=EventKind.choices)
    plan = models.ForeignKey(
        "repositories.BackupPlan", null=True, blank=True, on_delete=models.CASCADE, related_name="notification_events"
    )
    repository = models.ForeignKey(
        "repositories.Repository", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    run = models.ForeignKey(
        "repositories.PlanRun", null=True, blank=True, on_delete=models.CASCADE, related_name="notification_events"
    )
    details = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(default=timezone.now)
    # Set by whoever delivers it (a worker, or run_backup without one): delivered once.
    claimed = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [models.Index(fields=["run", "kind"], name="event_run_kind")]

    def __str__(self):
        subject = self.plan or self.repository
        return f"{self.kind} of {subject}" if subject else self.kind


class DeliveryAttempt(models.Model):
    """One try of one notification (to a channel) or ping (to a plan's ping URL)."""

    event = models.ForeignKey(Event, null=True, blank=True, on_delete=models.CASCADE, related_name="attempts")
    channel = models.ForeignKey(Channel, null=True, blank=True, on_delete=models.CASCADE, related_name="attempts")
    run = models.ForeignKey(
        "repositories.PlanRun", null=True, blank=True, on_delete=models.CASCADE, related_name="notification_attempts"
    )
    target = models.CharField(max_length=120, help_text="The channel, or which ping.")
    kind = models.CharField(max_length=12, help_text="The event (or test).")
    subject = models.CharField(max_length=200, blank=True, help_text="What it is about.")
    attempt = models.PositiveSmallIntegerField(default=1)
    ok = models.BooleanField(default=False)
    error = models.CharField(max_length=500, blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = "delivery attempt"
        indexes = [
            models.Index(fields=["channel", "-at"], name="attempt_channel_at"),
            models.Index(fields=["run", "at"], name="attempt_run_at"),
        ]

    def __str__(self):
        return f"{self.kind} → {self.target} ({'ok' if self.ok else 'error'})"


class WorkerHeartbeat(models.Model):
    """The last sign of life of each django-q2 cluster (see notifications.broker)."""

    cluster_id = models.CharField(max_length=64, unique=True)
    host = models.CharField(max_length=255)
    pid = models.IntegerField()
    seen = models.DateTimeField(db_index=True)

    def __str__(self):
        return f"{self.host}:{self.pid}"


class MetricValue(models.Model):
    """One sample of /metrics that would cost a scan of the history to compute: kept up
    to date when a run finishes and recomputed by the worker every minute, so a scrape
    reads a few rows whatever the number of runs (notifications.services.metrics)."""

    scope = models.CharField(max_length=120, help_text="What it is refreshed with: plan:ID, script:NAME, all.")
    metric = models.CharField(max_length=100)
    labels = models.JSONField(default=dict)
    value = models.FloatField()

    class Meta:
        indexes = [models.Index(fields=["scope"], name="metric_scope")]

    def __str__(self):
        return f"{self.metric}{self.labels} = {self.value}"
