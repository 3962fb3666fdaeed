"""The archive list cache, the per-archive index behind browse and search, and restore
jobs (docs/archives.md)."""

from django.conf import settings
from django.db import connection, models
from django.urls import reverse
from django.utils import timezone

from repositories.models import BackupPlan, Repository


class StatsSource(models.TextChoices):
    CREATE = "create"  # the backup's own `borg create --json`
    INFO = "info"  # `borg info --json`, fetched when first shown


class Archive(models.Model):
    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="archives")
    name = models.CharField(max_length=300)
    borg_id = models.CharField("id", max_length=64, blank=True)
    start = models.DateTimeField(null=True, blank=True)
    end = models.DateTimeField(null=True, blank=True)
    plan = models.ForeignKey(BackupPlan, null=True, blank=True, on_delete=models.SET_NULL, related_name="archives")
    checkpoint = models.BooleanField(default=False)
    nfiles = models.BigIntegerField(null=True, blank=True)
    original_size = models.BigIntegerField(null=True, blank=True)
    compressed_size = models.BigIntegerField(null=True, blank=True)
    deduplicated_size = models.BigIntegerField(null=True, blank=True)
    stats_source = models.CharField(max_length=6, choices=StatsSource.choices, blank=True)

    class Meta:
        ordering = ["repository", "start", "id"]
        constraints = [models.UniqueConstraint(fields=["repository", "name"], name="archive_name_per_repository")]
        indexes = [models.Index(fields=["repository", "start", "id"], name="archive_by_start")]
        permissions = [
            ("download_archive", "Can download files from archives"),
            ("restore_archive", "Can restore archives"),
        ]

    def __str__(self):
        return f"{self.repository}::{self.name}"

    def get_absolute_url(self):
        return reverse("admin:archives_archive_browse", args=[self.pk])

    def as_json(self) -> dict:
        def iso(value):
            return value.isoformat() if value else None

        return {
            "name": self.name, "id": self.borg_id or None, "start": iso(self.start), "end": iso(self.end),
            "plan": self.plan.name if self.plan else None, "checkpoint": self.checkpoint, "nfiles": self.nfiles,
            "original_size": self.original_size, "compressed_size": self.compressed_size,
            "deduplicated_size": self.deduplicated_size, "stats_source": self.stats_source or None,
        }  # fmt: skip


class ArchiveListState(models.Model):
    """When a repository's archive list was last read from borg, and whether a refresh is queued."""

    repository = models.OneToOneField(Repository, on_delete=models.CASCADE, related_name="archive_list")
    refreshed = models.DateTimeField(null=True, blank=True)
    queued = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)

    def __str__(self):
        return f"archive list of {self.repository}"


class IndexState(models.TextChoices):
    QUEUED = "queued"
    BUILDING = "building"
    READY = "ready"
    FAILED = "failed"

    @property
    def in_progress(self) -> bool:
        return self in (IndexState.QUEUED, IndexState.BUILDING)


class ArchiveIndex(models.Model):
    archive = models.OneToOneField(Archive, on_delete=models.CASCADE, related_name="index")
    state = models.CharField(max_length=8, choices=IndexState.choices, default=IndexState.QUEUED)
    entries = models.BigIntegerField(default=0)
    total_size = models.BigIntegerField(default=0, help_text="bytes of the archive's files (for restore progress)")
    disk_bytes = models.BigIntegerField(default=0, help_text="estimated space the index takes in the database")
    created = models.DateTimeField(default=timezone.now)
    built = models.DateTimeField(null=True, blank=True)
    last_used = models.DateTimeField(default=timezone.now, db_index=True)
    heartbeat = models.DateTimeField(default=timezone.now)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        verbose_name_plural = "archive indexes"

    def __str__(self):
        return f"index of {self.archive}"

    def drop_entries(self) -> None:
        """Its rows in one statement (Django's cascade would load them all first)."""
        table = connection.ops.quote_name(ArchiveEntry._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {table} WHERE index_id = %s", [self.pk])


class EntryType:
    DIRECTORY = "d"
    FILE = "-"
    SYMLINK = "l"


class ArchiveEntry(models.Model):
    """One item of an archive. Rows are written and dropped in bulk (raw SQL delete), so
    no foreign-key constraint or cascade through Django; ``path`` orders names within a
    parent (same prefix), so the listing index is (index, parent, dirs first, path)."""

    index = models.ForeignKey(ArchiveIndex, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    parent = models.TextField()
    path = models.TextField()
    dirs_first = models.SmallIntegerField()  # 0 directory, 1 anything else
    type = models.CharField(max_length=1)
    size = models.BigIntegerField(null=True)
    mtime = models.DateTimeField(null=True)
    mode = models.CharField(max_length=10, blank=True)
    user = models.CharField(max_length=100, blank=True)
    group = models.CharField(max_length=100, blank=True)
    linktarget = models.TextField(blank=True)
    hardlink_master = models.TextField(blank=True)
    healthy = models.BooleanField(default=True)
    name_lossy = models.BooleanField(default=False)
    synthetic = models.BooleanField(default=False)  # a parent directory that is not an item

    class Meta:
        indexes = [models.Index(fields=["index", "parent", "dirs_first", "path"], name="archiveentry_listing")]

    def __str__(self):
        return self.path

    @property
    def name(self) -> str:
        return self.path.rpartition("/")[2]


class RestoreStatus(models.TextChoices):
    PENDING = "pending"
    RUNNING = "running"
    SUCCESS = "success"
    WARNING = "warning"
    FAILURE = "failure"

    @property
    def is_active(self) -> bool:
        return self in (RestoreStatus.PENDING, RestoreStatus.RUNNING)

    @property
    def exit_code(self) -> int:
        return {RestoreStatus.SUCCESS: 0, RestoreStatus.WARNING: 1}.get(self, 2)


class RestoreJob(models.Model):
    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="restores")
    archive_name = models.CharField(max_length=300)
    paths = models.JSONField(default=list, blank=True, help_text="empty: the whole archive")
    target = models.CharField(max_length=4096)
    host = models.CharField(max_length=200, blank=True, help_text="the machine the target is on")
    # Restore to a source host (docs/remote-sources.md): the target is on that connection's machine.
    target_connection = models.ForeignKey(
        "repositories.SSHConnection", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    strip_components = models.PositiveIntegerField(default=0)
    overwrite = models.BooleanField(default=False)
    dry_run = models.BooleanField(default=False)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_from = models.CharField(max_length=10, default="admin")
    status = models.CharField(max_length=8, choices=RestoreStatus.choices, default=RestoreStatus.PENDING)
    reason = models.CharField(max_length=500, blank=True)
    worker = models.CharField(max_length=200, blank=True)
    bytes_done = models.BigIntegerField(default=0)
    bytes_total = models.BigIntegerField(null=True, blank=True)
    files_done = models.BigIntegerField(default=0)
    files_total = models.BigIntegerField(null=True, blank=True)
    cancel_requested = models.BooleanField(default=False)
    log = models.TextField(blank=True)
    created = models.DateTimeField(default=timezone.now)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)
    heartbeat = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [models.Index(fields=["-created", "-id"], name="restorejob_recent")]

    def __str__(self):
        return f"restore {self.pk} of {self.repository}::{self.archive_name}"

    def get_absolute_url(self):
        return reverse("admin:archives_restorejob_change", args=[self.pk])

    @property
    def percent(self) -> int | None:
        if not self.bytes_total:
            return 100 if self.status == RestoreStatus.SUCCESS else None
        return min(100, int(100 * self.bytes_done / self.bytes_total))
