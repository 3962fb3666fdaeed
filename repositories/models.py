"""SSH connections, repositories, backup plans and their runs (docs/configuration.md#keys, docs/running-plans.md)."""

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.urls import reverse
from django.utils import timezone

from common.docker_client import selector_problem
from common.fields import EncryptedTextField
from common.text import body_hash
from common.validators import validate_object_name, validate_timezone
from repositories import archive_names, source_paths
from repositories.status import HookType, Status
from repositories.validators import (
    ssh_host_problem,
    ssh_user_problem,
    validate_borg_interval,
    validate_compression,
    validate_cron,
    validate_repository_location,
)


class SSHConnection(models.Model):
    name = models.CharField(max_length=100, unique=True, validators=[validate_object_name])
    host = models.CharField(max_length=255, help_text="Host name or IP address.")
    port = models.PositiveIntegerField(default=22, validators=[MinValueValidator(1), MaxValueValidator(65535)])
    username = models.CharField(max_length=100)
    private_key = EncryptedTextField(
        help_text="OpenSSH private key. Without one the worker's own SSH set-up is used. Never shown again."
    )
    known_hosts = models.TextField(
        blank=True,
        help_text="Known-hosts line(s) for this host. Empty: the key is accepted the first time and then pinned.",
    )

    class Meta:
        verbose_name = "SSH connection"
        ordering = ["name"]

    def __str__(self):
        return self.name

    def clean(self):
        # The same host and user rules as a repository location (docs/security.md).
        errors = {}
        if self.host and (problem := ssh_host_problem(self.host)):
            errors["host"] = problem
        if self.username and (problem := ssh_user_problem(self.username)):
            errors["username"] = problem
        if errors:
            raise ValidationError(errors)


def _is_one_line(value) -> bool:
    """A source or exclude: borg gets it as one argument, which cannot hold NUL or a line break."""
    return isinstance(value, str) and bool(value.strip()) and not any(char in value for char in "\n\r\0")


class Encryption(models.TextChoices):
    NONE = "none"
    AUTHENTICATED = "authenticated"
    AUTHENTICATED_BLAKE2 = "authenticated-blake2"
    REPOKEY = "repokey"
    REPOKEY_BLAKE2 = "repokey-blake2"
    KEYFILE = "keyfile"
    KEYFILE_BLAKE2 = "keyfile-blake2"

    @property
    def uses_keyfile(self) -> bool:
        return self in (Encryption.KEYFILE, Encryption.KEYFILE_BLAKE2)

    @property
    def needs_passphrase(self) -> bool:
        return self != Encryption.NONE


class Repository(models.Model):
    name = models.CharField(max_length=100, unique=True, validators=[validate_object_name])
    location = models.CharField(
        max_length=1000,
        unique=True,
        validators=[validate_repository_location],
        help_text="Local path (/backups/main) or ssh://user@host:port/path.",
    )
    encryption = models.CharField(max_length=30, choices=Encryption.choices, default=Encryption.REPOKEY_BLAKE2)
    passphrase = EncryptedTextField(
        help_text="What borgui opens the repository with; never shown again. "
        "To change the repository's own passphrase, use Change passphrase."
    )
    # For keyfile modes: the exported borg key, so a new container with only borgui's data
    # can still open the repository.
    exported_key = EncryptedTextField(editable=False)
    source_connection = models.ForeignKey(
        SSHConnection,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="source_of_repositories",
        help_text="Where the data and services of this repository live (for its hooks' BORG_UI_* variables).",
    )
    pre_backup_script = models.TextField(blank=True, help_text="Legacy inline hook: runs before each backup.")
    post_backup_script = models.TextField(blank=True, help_text="Legacy inline hook: runs after each backup.")
    # Inline hooks follow the review rule of library scripts (docs/hooks.md#legacy-inline-hooks).
    pre_backup_approved_hash = models.CharField(max_length=64, blank=True, editable=False)
    post_backup_approved_hash = models.CharField(max_length=64, blank=True, editable=False)
    # Set by borgui's own borg init, a successful import or backup (docs/admin.md, "Repository").
    initialised = models.BooleanField(default=False, editable=False)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "repositories"
        ordering = ["name"]
        permissions = [
            ("break_lock", "Can break the borg lock of a repository"),
            ("check_repository", "Can start a repository check"),
        ]

    def __str__(self):
        return self.name

    def clean(self):
        if self.encryption != Encryption.NONE and not self.passphrase:
            raise ValidationError({"passphrase": f"Encryption {self.encryption} needs a passphrase."})

    @property
    def is_remote(self) -> bool:
        return self.location.startswith("ssh://")

    def inline_hook_approved(self, hook_type: str) -> bool:
        body, approved = self._inline(hook_type)
        return bool(body) and approved == body_hash(body)

    def approve_inline_hooks(self) -> None:
        """Approve the current inline bodies (the approver saw them)."""
        self.pre_backup_approved_hash = body_hash(self.pre_backup_script) if self.pre_backup_script else ""
        self.post_backup_approved_hash = body_hash(self.post_backup_script) if self.post_backup_script else ""

    def inline_body(self, hook_type: str) -> str:
        return self._inline(hook_type)[0]

    def inline_hook_in_effect(self, hook_type: str) -> str:
        """The inline hook of HOOK_TYPE that runs ("" for none): the repository's library
        hooks of that type replace it."""
        body = self.inline_body(hook_type)
        if not body.strip() or self.hook_attachments.filter(hook_type=hook_type, enabled=True).exists():
            return ""
        return body

    def _inline(self, hook_type: str) -> tuple[str, str]:
        if hook_type == HookType.PRE_BACKUP:
            return self.pre_backup_script, self.pre_backup_approved_hash
        return self.post_backup_script, self.post_backup_approved_hash


class OnRepositoryFailure(models.TextChoices):
    CONTINUE = "continue"
    STOP = "stop"


class SourcesOn(models.TextChoices):
    """Where a plan's sources are read (docs/remote-sources.md)."""

    LOCAL = "local", "on the machine borgui runs on"
    SOURCE = "source", "on the source connection's host (mounted read-only over SSHFS)"

    @property
    def mounted(self) -> bool:
        return self == SourcesOn.SOURCE


class BackupPlan(models.Model):
    name = models.CharField(max_length=100, unique=True, validators=[validate_object_name])
    repositories = models.ManyToManyField(Repository, through="PlanRepository", related_name="plans")
    sources = models.JSONField(default=list, help_text="Paths to back up, one per line.")
    excludes = models.JSONField(default=list, blank=True, help_text="borg exclude patterns, one per line.")
    compression = models.CharField(max_length=20, default="lz4", validators=[validate_compression])
    archive_name = models.CharField(
        max_length=200,
        default=archive_names.DEFAULT_TEMPLATE,
        validators=[archive_names.validate_template],
        help_text="Variables: {plan}, {repository}, {now}, {now:FORMAT}.",
    )
    schedule = models.CharField(
        max_length=100, blank=True, validators=[validate_cron], help_text="Cron, five fields. Empty: manual only."
    )
    timezone = models.CharField(
        max_length=64, blank=True, validators=[validate_timezone], help_text="IANA name; empty means UTC."
    )
    enabled = models.BooleanField(default=True)
    on_repository_failure = models.CharField(
        max_length=10, choices=OnRepositoryFailure.choices, default=OnRepositoryFailure.CONTINUE
    )
    source_connection = models.ForeignKey(
        SSHConnection, null=True, blank=True, on_delete=models.PROTECT, related_name="source_of_plans"
    )
    sources_on = models.CharField(
        max_length=10,
        choices=SourcesOn.choices,
        default=SourcesOn.LOCAL,
        help_text="Where the sources are: here, or on the source connection's host (pull mode over SSHFS).",
    )
    stop_containers = models.JSONField(
        default=list,
        blank=True,
        help_text=(
            "Containers to stop after the plan's pre-backup hooks and start again after the backup, in order: "
            'names, or label:KEY=VALUE (e.g. ["postgres", "label:borgui.stop-during-backup=true"]).'
        ),
    )
    keep_within = models.CharField(max_length=20, blank=True, validators=[validate_borg_interval])
    keep_hourly = models.PositiveIntegerField(null=True, blank=True)
    keep_daily = models.PositiveIntegerField(null=True, blank=True)
    keep_weekly = models.PositiveIntegerField(null=True, blank=True)
    keep_monthly = models.PositiveIntegerField(null=True, blank=True)
    keep_yearly = models.PositiveIntegerField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    RETENTION_FIELDS = ("keep_within", "keep_hourly", "keep_daily", "keep_weekly", "keep_monthly", "keep_yearly")

    class Meta:
        ordering = ["name"]
        permissions = [("run_plan", "Can run a backup plan now")]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("admin:repositories_backupplan_change", args=[self.pk])

    @property
    def has_retention(self) -> bool:
        return any(getattr(self, field) not in (None, "") for field in self.RETENTION_FIELDS)

    def retention_options(self) -> list[str]:
        options = []
        for field in self.RETENTION_FIELDS:
            value = getattr(self, field)
            if value not in (None, ""):
                options.append(f"--{field.replace('_', '-')}={value}")
        return options

    def clean(self):
        if not isinstance(self.sources, list) or not self.sources:
            raise ValidationError({"sources": "Give at least one path to back up."})
        if not all(_is_one_line(source) for source in self.sources):
            raise ValidationError({"sources": "Each source is one non-empty path."})
        if not isinstance(self.excludes, list) or not all(_is_one_line(pattern) for pattern in self.excludes):
            raise ValidationError({"excludes": "Each exclude is one non-empty pattern, without line breaks or NUL."})
        self._clean_stop_containers()
        self._clean_remote_sources()
        if self.has_retention and self.name and self.archive_name:
            problem = archive_names.retention_prefix_problem(self.archive_name, self.name)
            if problem:
                raise ValidationError({"archive_name": problem})

    def _clean_stop_containers(self) -> None:
        if self.stop_containers in (None, ""):
            self.stop_containers = []
        if not isinstance(self.stop_containers, list):
            raise ValidationError({"stop_containers": "Give a list of container names or label:KEY=VALUE selectors."})
        problems = [problem for problem in map(selector_problem, self.stop_containers) if problem]
        if problems:
            raise ValidationError({"stop_containers": problems})
        duplicates = sorted({s for s in self.stop_containers if self.stop_containers.count(s) > 1})
        if duplicates:
            raise ValidationError({"stop_containers": f"Listed twice: {', '.join(duplicates)}."})

    def _clean_remote_sources(self) -> None:
        # Remote sources (docs/remote-sources.md)
        # The source connection it needs is checked with its repositories (plan_repository_problems).
        if not SourcesOn(self.sources_on).mounted:
            return
        if problem := source_paths.remote_sources_problem(self.sources):
            raise ValidationError({"sources": problem})

    def ordered_repositories(self) -> list[Repository]:
        return [link.repository for link in self.repository_links.select_related("repository").order_by("order", "id")]


class PlanRepository(models.Model):
    plan = models.ForeignKey(BackupPlan, on_delete=models.CASCADE, related_name="repository_links")
    repository = models.ForeignKey(Repository, on_delete=models.PROTECT, related_name="plan_links")
    order = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["order", "id"]
        constraints = [models.UniqueConstraint(fields=["plan", "repository"], name="unique_plan_repository")]
        verbose_name = "repository of the plan"
        verbose_name_plural = "repositories of the plan (backed up in this order)"

    def __str__(self):
        return f"{self.plan} → {self.repository}"


class Trigger(models.TextChoices):
    SCHEDULE = "schedule"
    ADMIN = "admin"
    CLI = "cli"


PROGRESS_PATH_LENGTH = 500


class PlanRun(models.Model):
    plan = models.ForeignKey(BackupPlan, on_delete=models.CASCADE, related_name="runs")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    trigger = models.CharField(max_length=10, choices=Trigger.choices)
    # For scheduled runs: the slot it runs for, so a task delivered twice makes one run.
    scheduled_for = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=500, blank=True)
    created = models.DateTimeField(default=timezone.now)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)
    heartbeat = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True, help_text="host:pid of the process running it")
    cancel_requested = models.BooleanField(default=False)
    log = models.TextField(blank=True)
    # Post steps (docs/running-plans.md#recovery) that are done, so recovery after a crash runs only the rest.
    plan_pre_started = models.BooleanField(default=False)
    plan_post_done = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created", "-id"]
        # One per ordering and lookup the pages use (docs/dashboard.md): the runs list and its
        # filters, each plan's last run, the failures of the last days.
        indexes = [
            models.Index(fields=["-created", "-id"], name="planrun_newest"),
            models.Index(fields=["plan", "-created", "-id"], name="planrun_plan_newest"),
            models.Index(fields=["status", "-created", "-id"], name="planrun_status_newest"),
            models.Index(fields=["status", "finished"], name="planrun_status_finished"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["plan", "scheduled_for"],
                name="one_run_per_schedule_slot",
                condition=models.Q(trigger="schedule"),
            )
        ]
        permissions = [("cancel_run", "Can cancel a run in progress")]

    def __str__(self):
        return f"{self.plan} #{self.pk}"

    def get_absolute_url(self):
        return reverse("admin:repositories_planrun_change", args=[self.pk])

    @property
    def was_cancelled(self) -> bool:
        """A cancelled run keeps the status failure for its hooks (docs/running-plans.md#statuses);
        the pages call it cancelled."""
        return self.status == Status.FAILURE and (self.cancel_requested or self.reason == "cancelled")

    @property
    def shown_status(self) -> str:
        return "cancelled" if self.was_cancelled else self.status

    @property
    def duration(self):
        if self.started and self.finished:
            return self.finished - self.started
        return None


class RepositoryJob(models.Model):
    run = models.ForeignKey(PlanRun, on_delete=models.CASCADE, related_name="jobs")
    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="jobs")
    order = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    reason = models.CharField(max_length=500, blank=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)
    borg_exit_code = models.IntegerField(null=True, blank=True)
    archive_name = models.CharField(max_length=300, blank=True)
    nfiles = models.BigIntegerField(null=True, blank=True)
    original_size = models.BigIntegerField(null=True, blank=True)
    compressed_size = models.BigIntegerField(null=True, blank=True)
    deduplicated_size = models.BigIntegerField(null=True, blank=True)
    progress_files = models.BigIntegerField(default=0)
    progress_bytes = models.BigIntegerField(default=0)
    progress_updated = models.DateTimeField(null=True, blank=True)
    # When borg create started (after the pre hooks), and the file it was reading at the
    # last progress save: the rate and the "current file" of docs/dashboard.md#progress.
    progress_started = models.DateTimeField(null=True, blank=True)
    progress_path = models.CharField(max_length=PROGRESS_PATH_LENGTH, blank=True)
    log = models.TextField(blank=True)
    pre_started = models.BooleanField(default=False)
    post_done = models.BooleanField(default=False)
    # When borg create and prune ran, for the run's timeline (docs/running-plans.md, "Reading a run").
    create_started = models.DateTimeField(null=True, blank=True)
    create_finished = models.DateTimeField(null=True, blank=True)
    prune_started = models.DateTimeField(null=True, blank=True)
    prune_finished = models.DateTimeField(null=True, blank=True)
    prune_exit_code = models.IntegerField(null=True, blank=True)
    prune_log = models.TextField(blank=True)

    class Meta:
        ordering = ["run", "order", "id"]
        verbose_name = "repository job"
        # A repository's last backup, and the previous archive of a plan in a repository.
        indexes = [models.Index(fields=["repository", "-finished"], name="repositoryjob_last")]

    def __str__(self):
        return f"{self.run} / {self.repository}"


class ContainerStop(models.Model):
    """A container the plan's built-in stop found running and stopped (docs/docker-hooks.md#built-in-container-stop).

    Recorded before the stop request, so that whatever happens next (a failed backup, a
    cancel, a worker killed mid-stop) the run's after-run step, or the recovery of the
    run, starts exactly these again. Containers that were already stopped get no row.
    """

    run = models.ForeignKey(PlanRun, on_delete=models.CASCADE, related_name="container_stops")
    selector = models.CharField(max_length=300, help_text="The plan's entry that chose it (a name or label:KEY=VALUE).")
    container_id = models.CharField(max_length=64)
    name = models.CharField(max_length=255)
    recorded_at = models.DateTimeField(default=timezone.now)
    stopped_at = models.DateTimeField(null=True, blank=True)
    stop_error = models.CharField(max_length=500, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    start_error = models.CharField(max_length=500, blank=True, help_text="Why the last start failed.")
    start_attempts = models.PositiveIntegerField(default=0)

    # A start that failed is tried again by the worker every minute, for about an hour;
    # then the container is left to its owner (the log says how to start it).
    MAX_START_ATTEMPTS = 60

    class Meta:
        ordering = ["run", "id"]
        verbose_name = "stopped container"
        # The dashboard's "stopped now": the few rows not started again.
        indexes = [
            models.Index(fields=["run"], condition=models.Q(started_at__isnull=True), name="containerstop_not_started")
        ]

    def __str__(self):
        return f"{self.name} (run {self.run_id})"

    @property
    def pending_start(self) -> bool:
        return self.started_at is None and self.start_attempts < self.MAX_START_ATTEMPTS


class RepositoryLease(models.Model):
    """Who may write a repository now: one row per repository, taken by a run (docs/running-plans.md#leases).

    A row in the database (not a file) so the lock holds across worker machines and on
    SQLite and PostgreSQL alike; taken and given back with single UPDATE statements.
    """

    repository = models.OneToOneField(Repository, on_delete=models.CASCADE, related_name="lease")
    run = models.ForeignKey(PlanRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="leases")
    taken = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"lease on {self.repository}"


class LeaseMode(models.TextChoices):
    """How a holder other than a run uses a repository (docs/archives.md, "Locks")."""

    READ = "read"  # list, extract, export-tar, diff: shared with other readers
    INFO = "info"  # borg info: a reader that holds borg's local cache lock, one per machine
    WRITE = "write"  # delete, compact, check: exclusive, like a run

    @property
    def exclusive(self) -> bool:
        return self == LeaseMode.WRITE


class RepositoryHold(models.Model):
    """A holder of a repository lease other than a run: a restore, a download, a refresh,
    a command. Waiting holders have a row too, so a waiting writer blocks new readers and
    the page can say who waits. A row whose heartbeat is older than
    BORGUI_STALE_AFTER_SECONDS belongs to a dead process and is free."""

    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="holds")
    mode = models.CharField(max_length=5, choices=LeaseMode.choices)
    held = models.BooleanField(default=False)
    description = models.CharField(max_length=300)
    host = models.CharField(max_length=200, blank=True)
    created = models.DateTimeField(default=timezone.now)
    heartbeat = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["repository", "held"], name="repositoryhold_state")]

    def __str__(self):
        return f"{self.description} ({self.mode}{'' if self.held else ', waiting'})"


class SourceMount(models.Model):
    """A source directory of a plan mounted from its source host for one job
    (docs/remote-sources.md). Recorded before sshfs runs, so that whatever happens next
    (a failure, a cancel, a worker killed during borg create) the job itself or the
    worker's recovery on the same machine unmounts it."""

    run = models.ForeignKey(PlanRun, on_delete=models.CASCADE, related_name="source_mounts")
    job = models.ForeignKey(RepositoryJob, on_delete=models.CASCADE, related_name="source_mounts")
    source = models.CharField(max_length=1000, help_text="The path on the source host.")
    host = models.CharField(max_length=400, help_text="Where it came from: connection user@host:port.")
    mount_point = models.CharField(max_length=1200)
    worker_host = models.CharField(max_length=200, help_text="The machine it was mounted on.")
    recorded_at = models.DateTimeField(default=timezone.now)
    mounted_at = models.DateTimeField(null=True, blank=True)
    unmounted_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["run", "id"]
        verbose_name = "mounted source"
        indexes = [models.Index(fields=["worker_host", "unmounted_at"], name="sourcemount_left")]

    def __str__(self):
        return f"{self.source} from {self.host}"
