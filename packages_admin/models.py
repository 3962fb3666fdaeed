"""System packages installed on the worker (docs/packages.md), and the lock that serialises apt."""

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from packages_admin.validators import MAX_LENGTH, parse_package_spec, validate_package_spec


class PackageInstallQuerySet(models.QuerySet):
    def for_package(self, name: str) -> "PackageInstallQuerySet":
        """Records of the package NAME, pinned to a version or not."""
        return self.filter(Q(name=name) | Q(name__startswith=f"{name}="))


class PackageInstall(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "pending"
        INSTALLING = "installing", "installing"
        INSTALLED = "installed", "installed"
        FAILED = "failed", "failed"

    name = models.CharField(
        "package",
        max_length=MAX_LENGTH,
        unique=True,
        validators=[validate_package_spec],
        help_text=(
            "A Debian package name, optionally pinned as NAME=VERSION. For example <code>docker.io</code>: "
            "the Docker CLI that hooks use to stop, dump and start containers."
        ),
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    installed_version = models.CharField(max_length=MAX_LENGTH, blank=True)
    exit_code = models.IntegerField(null=True, blank=True, help_text="apt-get's exit code; 124 when it timed out.")
    log = models.TextField(blank=True)
    created_at = models.DateTimeField("created", auto_now_add=True)
    started_at = models.DateTimeField("started", null=True, blank=True)
    finished_at = models.DateTimeField("finished", null=True, blank=True)
    updated_at = models.DateTimeField("updated", auto_now=True)

    objects = PackageInstallQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name = "package"
        verbose_name_plural = "packages"
        permissions = [("install_package", "Can install system packages")]

    def __str__(self) -> str:
        return self.name

    @property
    def package_name(self) -> str:
        return parse_package_spec(self.name)[0]

    @property
    def requested_version(self) -> str | None:
        return parse_package_spec(self.name)[1]

    @property
    def is_running(self) -> bool:
        return self.status in (self.Status.PENDING, self.Status.INSTALLING)

    def clean(self) -> None:
        super().clean()
        try:
            name, _ = parse_package_spec(self.name)
        except ValidationError:
            return  # the field validator reports it
        other = PackageInstall.objects.for_package(name).exclude(pk=self.pk).first()
        if other is not None:
            raise ValidationError({"name": f"{name} is already in the list (as {other.name})"})


class AptLock(models.Model):
    """The single row that makes installs queue: apt has one lock per machine, this one spans them all.

    A holder takes the row with one conditional UPDATE (atomic on PostgreSQL and SQLite) and
    refreshes ``heartbeat`` while it runs; a holder whose heartbeat stopped (its worker died)
    loses the lock after a short while. No transaction stays open while apt runs, so the
    log is saved and shown live meanwhile.
    """

    token = models.CharField(max_length=64, blank=True)
    holder = models.CharField(max_length=MAX_LENGTH, blank=True)
    heartbeat = models.DateTimeField(null=True, blank=True)

    class Meta:
        default_permissions = ()

    def __str__(self) -> str:
        return f"apt lock held by {self.holder}" if self.token else "apt lock (free)"
