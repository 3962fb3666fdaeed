"""Maintenance of repositories and proof that backups are restorable (docs/maintenance.md):
per-repository check and compact schedules, per-plan verify and restore-drill settings,
and the jobs that record every check, compact, verify and drill."""

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.urls import reverse
from django.utils import timezone

from common.fields import EncryptedTextField
from common.validators import validate_timezone
from repositories.models import BackupPlan, LeaseMode, Repository
from repositories.status import Status
from repositories.validators import validate_cron

MAX_INT = 2**31 - 1


class MaintenanceKind(models.TextChoices):
    CHECK = "check"
    COMPACT = "compact"
    VERIFY = "verify"
    DRILL = "drill"

    @property
    def lease_mode(self) -> LeaseMode:
        """borg takes its exclusive lock for check in any mode and for compact."""
        return LeaseMode.WRITE if self in (MaintenanceKind.CHECK, MaintenanceKind.COMPACT) else LeaseMode.READ

    @property
    def per_plan(self) -> bool:
        return self in (MaintenanceKind.VERIFY, MaintenanceKind.DRILL)

    @property
    def permission(self) -> str:
        """Who may start it (docs/users.md): operators check and verify; compacting, which
        gives back for good the space of deleted archives, is the admin's."""
        if self == MaintenanceKind.COMPACT:
            return "maintenance.compact_repository"
        return "maintenance.run_maintenance"

    @property
    def event_kind(self) -> str:
        """The notification event a failure sends (docs/notifications.md)."""
        return "verify" if self.per_plan else "check"


class MaintenanceTrigger(models.TextChoices):
    SCHEDULE = "schedule"
    ADMIN = "admin"
    CLI = "cli"
    AFTER_PRUNE = "after-prune"


def _one_line_list(value) -> bool:
    return isinstance(value, list) and all(
        isinstance(item, str) and item.strip() and not any(c in item for c in "\n\r\0") for item in value
    )


class RepositoryMaintenance(models.Model):
    """A repository's check and compact schedules (kept beside it: the backup core knows nothing of them)."""

    repository = models.OneToOneField(Repository, on_delete=models.CASCADE, related_name="maintenance")
    check_schedule = models.CharField(
        max_length=100,
        blank=True,
        validators=[validate_cron],
        help_text="Cron, five fields. Empty: no scheduled check.",
    )
    check_timezone = models.CharField(
        max_length=64, blank=True, validators=[validate_timezone], help_text="IANA name; empty means UTC."
    )
    check_verify_data = models.BooleanField(
        default=False, help_text="borg check --verify-data: read and decrypt every chunk (slow)."
    )
    check_max_duration = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_INT)],
        help_text="Seconds: a partial check (--repository-only --max-duration) that goes on where the last stopped.",
    )
    compact_schedule = models.CharField(
        max_length=100,
        blank=True,
        validators=[validate_cron],
        help_text="Cron, five fields. Empty: no scheduled compact.",
    )
    compact_timezone = models.CharField(
        max_length=64, blank=True, validators=[validate_timezone], help_text="IANA name; empty means UTC."
    )
    compact_after_prune = models.BooleanField(
        default=True,
        help_text="Compact after each prune that removed an archive (once the run's containers run again).",
    )

    class Meta:
        verbose_name = "maintenance"
        verbose_name_plural = "maintenance"

    def __str__(self):
        return f"maintenance of {self.repository}"

    def clean(self):
        if self.check_verify_data and self.check_max_duration:
            raise ValidationError(
                {"check_max_duration": "max_duration runs a partial --repository-only check: not with verify_data."}
            )

    @property
    def is_default(self) -> bool:
        """Nothing set that differs from a repository without a row."""
        return not (
            self.check_schedule or self.check_timezone or self.check_verify_data or self.check_max_duration
            or self.compact_schedule or self.compact_timezone or not self.compact_after_prune
        )  # fmt: skip

    def check_options(self) -> dict:
        return {"verify_data": self.check_verify_data, "max_duration": self.check_max_duration}


class PlanMaintenance(models.Model):
    """A plan's verify (spot check) and restore-drill settings."""

    plan = models.OneToOneField(BackupPlan, on_delete=models.CASCADE, related_name="maintenance")
    verify_schedule = models.CharField(
        max_length=100,
        blank=True,
        validators=[validate_cron],
        help_text="Cron, five fields. Empty: no scheduled verify.",
    )
    verify_timezone = models.CharField(
        max_length=64, blank=True, validators=[validate_timezone], help_text="IANA name; empty means UTC."
    )
    sample_percent = models.FloatField(
        default=5,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        help_text="Share of the comparable files whose content is hashed (at least 20 files).",
    )
    count_tolerance_percent = models.FloatField(
        default=10,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        help_text="Fail when archive and source file counts differ by more than this share of the source's.",
    )
    drill_script = models.ForeignKey(
        "hooks.Script",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="drills",
        help_text="A reviewed library script run against the restored paths (e.g. postgres-restore-drill).",
    )
    drill_paths = models.JSONField(
        default=list, blank=True, help_text="Paths of the archive to restore for the drill, one per line."
    )
    drill_schedule = models.CharField(
        max_length=100,
        blank=True,
        validators=[validate_cron],
        help_text="Cron, five fields. Empty: no scheduled drill.",
    )
    drill_timezone = models.CharField(
        max_length=64, blank=True, validators=[validate_timezone], help_text="IANA name; empty means UTC."
    )
    # The drill script's parameter values, as JSON, encrypted together (secret ones among them).
    drill_parameter_values = EncryptedTextField()

    # Set by apply_config while the script it names may not be saved yet (it checks the
    # script's declared parameters itself).
    drill_script_pending = False

    class Meta:
        verbose_name = "verification"
        verbose_name_plural = "verification"

    def __str__(self):
        return f"verification of {self.plan}"

    def clean(self):
        from hooks.models import HookAttachment

        errors = {}
        if self.drill_paths in (None, ""):
            self.drill_paths = []
        if not _one_line_list(self.drill_paths):
            errors["drill_paths"] = "Each path is one non-empty line."
        if self.drill_schedule and not (self.drill_script_id or self.drill_script_pending):
            errors["drill_script"] = "A scheduled drill needs a script."
        if self.drill_script_id:
            declared = set(self.drill_script.parameters.values_list("name", flat=True))
            carrier = HookAttachment(parameter_values=self.drill_parameter_values)
            problem = carrier.undeclared_values_problem(self.drill_script.name, declared)
            if problem:
                errors["drill_parameter_values"] = problem
        if errors:
            raise ValidationError(errors)

    @property
    def is_default(self) -> bool:
        return not (
            self.verify_schedule or self.verify_timezone or self.sample_percent != 5
            or self.count_tolerance_percent != 10 or self.drill_script_id or self.drill_paths
            or self.drill_schedule or self.drill_timezone or self.drill_parameter_values
        )  # fmt: skip

    @property
    def verify_is_default(self) -> bool:
        return not (
            self.verify_schedule
            or self.verify_timezone
            or self.sample_percent != 5
            or self.count_tolerance_percent != 10
        )

    def drill_values(self) -> dict[str, str]:
        from hooks.models import HookAttachment

        return HookAttachment(parameter_values=self.drill_parameter_values).values()

    def set_drill_values(self, values: dict[str, str]) -> None:
        from hooks.models import HookAttachment

        carrier = HookAttachment()
        carrier.set_values(values)
        self.drill_parameter_values = carrier.parameter_values


class MaintenanceJob(models.Model):
    """One check, compact, verify or drill: recorded, followed live, cancellable."""

    kind = models.CharField(max_length=8, choices=MaintenanceKind.choices)
    # check/compact: the repository; verify/drill: the plan (the repository a drill restores from is kept too).
    repository = models.ForeignKey(
        Repository, null=True, blank=True, on_delete=models.CASCADE, related_name="maintenance_jobs"
    )
    plan = models.ForeignKey(
        BackupPlan, null=True, blank=True, on_delete=models.CASCADE, related_name="maintenance_jobs"
    )
    # "repository:ID" or "plan:ID": what may not have two jobs of one kind at once.
    target = models.CharField(max_length=40, editable=False)
    trigger = models.CharField(max_length=12, choices=MaintenanceTrigger.choices)
    scheduled_for = models.DateTimeField(null=True, blank=True)
    options = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    reason = models.CharField(max_length=500, blank=True)
    results = models.JSONField(default=dict, blank=True)
    progress = models.CharField(max_length=200, blank=True)
    size_before = models.BigIntegerField(null=True, blank=True, help_text="bytes on disk (compact)")
    size_after = models.BigIntegerField(null=True, blank=True, help_text="bytes on disk (compact)")
    script_execution = models.ForeignKey(
        "hooks.ScriptExecution", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_by = models.CharField(max_length=150, blank=True)
    worker = models.CharField(max_length=200, blank=True)
    cancel_requested = models.BooleanField(default=False)
    log = models.TextField(blank=True)
    created = models.DateTimeField(default=timezone.now)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)
    heartbeat = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created", "-id"]
        verbose_name = "maintenance job"
        indexes = [
            models.Index(fields=["repository", "-created", "-id"], name="maintenancejob_repository"),
            models.Index(fields=["plan", "-created", "-id"], name="maintenancejob_plan"),
            models.Index(fields=["-created", "-id"], name="maintenancejob_recent"),
            models.Index(fields=["kind", "target", "status"], name="maintenancejob_active"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "target", "scheduled_for"],
                name="one_maintenance_job_per_slot",
                condition=models.Q(trigger="schedule"),
            )
        ]
        permissions = [
            ("run_maintenance", "Can start and cancel checks, verifies and drills"),
            ("compact_repository", "Can start a compact"),
        ]

    def __str__(self):
        return f"{self.kind} of {self.subject} #{self.pk}"

    def get_absolute_url(self):
        return reverse("admin:maintenance_maintenancejob_change", args=[self.pk])

    @property
    def subject(self) -> str:
        owner = self.plan if MaintenanceKind(self.kind).per_plan else self.repository
        return owner.name if owner is not None else "?"

    @property
    def duration(self):
        if self.started and self.finished:
            return self.finished - self.started
        return None

    @property
    def freed(self) -> int | None:
        if self.size_before is None or self.size_after is None:
            return None
        return self.size_before - self.size_after
