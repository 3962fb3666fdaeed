"""Sources on the plan's source host, backed up in pull mode (docs/remote-sources.md).

For a plan with ``sources_on: source`` each source directory is mounted read-only over
SSHFS from the plan's source connection, at a path that never changes for the plan
(``DATA/mounts/<plan id>/<source path>``: borg keys its files cache on the absolute path),
and borg runs from the mount root with relative paths, ``--files-cache=mtime,size`` (a
FUSE mount has no stable inode numbers) and ``--numeric-ids`` (the worker's user names
mean nothing for the host). The archive then holds ``srv/data/…`` exactly as a local
backup of ``/srv/data`` would.

Each mount is recorded (a ``SourceMount`` row) before sshfs runs and unmounted when the
job's borg create is over, whatever happened; the worker's recovery on the same machine
unmounts what a dead worker left (``unmount_leftovers``, checked against /proc/mounts).
A source missing on the host or a host key that does not match fails the job before borg
runs, with the reason, and leaves no mount.
"""

import functools
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from common import childenv, ssh
from repositories import borg
from repositories.models import BackupPlan, PlanRun, RepositoryJob, SourceMount, SourcesOn, SSHConnection
from repositories.services.monitor import RunLog
from repositories.source_paths import relative_source
from repositories.status import Status

MOUNT_TIMEOUT = 60  # seconds sshfs may take to connect and mount
UNMOUNT_TIMEOUT = 30
BORG_OPTIONS = ["--files-cache=mtime,size", "--numeric-ids"]


NO_CONNECTION = "Sources on the source host need the plan's source connection (the host they are on)."


class SourceUnavailable(Exception):
    """A source could not be mounted; the message is the job's one-line reason."""


@dataclass
class BorgSources:
    """What borg create is given: the paths, the directory it runs in, its extra options."""

    paths: list[str]
    cwd: str | None = None
    options: list[str] = field(default_factory=list)
    # Set when the block ends: why the mounts did not last as long as borg read them ("": they did).
    lost: str = ""


def mounts_dir() -> Path:
    return Path(settings.DATA_DIR) / "mounts"


def mount_root(plan: BackupPlan) -> Path:
    return mounts_dir() / str(plan.pk)


def mount_point(plan: BackupPlan, source: str) -> Path:
    return mount_root(plan) / relative_source(source)


def describe_host(connection: SSHConnection) -> str:
    return f"{connection.name} ({connection.username}@{connection.host}:{connection.port})"


def same_host(a: SSHConnection, b: SSHConnection) -> bool:
    return (a.host.lower(), a.port) == (b.host.lower(), b.port)


def other_host_problems(plan: BackupPlan, repositories) -> list[str]:
    """A plan whose sources are on its source host takes the host from the plan's
    connection: it needs one, and a repository whose own source connection names another
    host is refused."""
    connection = plan.source_connection
    if not SourcesOn(plan.sources_on).mounted:
        return []
    if connection is None:
        return [NO_CONNECTION]
    return [
        f"Repository {repository.name}'s source connection {repository.source_connection.name} names another "
        f"host than the plan's {connection.name}, where this plan's sources are."
        for repository in repositories
        if repository.source_connection is not None
        and not same_host(repository.source_connection, plan.source_connection)
    ]


def planned_sources(plan: BackupPlan) -> BorgSources:
    """What borg create is given once the sources are in place (mounted, for remote ones)."""
    if not SourcesOn(plan.sources_on).mounted:
        return BorgSources(list(plan.sources))
    return BorgSources([relative_source(s) for s in plan.sources], str(mount_root(plan)), list(BORG_OPTIONS))


@contextmanager
def borg_sources(plan: BackupPlan, job: RepositoryJob, log) -> Iterator[BorgSources]:
    """The sources of JOB's borg create; for remote sources, mounted for the block's length."""
    if not SourcesOn(plan.sources_on).mounted:
        yield planned_sources(plan)
        return
    if problems := other_host_problems(plan, [job.repository]):
        raise SourceUnavailable(problems[0])
    connection = plan.source_connection
    mounted: list[SourceMount] = []
    try:
        for source in plan.sources:
            mounted.append(_mount(plan, job, connection, source, log))
        sources = planned_sources(plan)
        yield sources
        sources.lost = _lost_reason(mounted)
    finally:
        for record in reversed(mounted):
            _unmount_record(record, log)


def _lost_reason(mounted: list[SourceMount]) -> str:
    """The host gone (or its connection cut) while borg read: sshfs has exited (its mount is
    gone, or answers ENOTCONN), and borg may only have warned about the files it could not read."""
    cut = [record.source for record in mounted if not _answers(record.mount_point)]
    if not cut:
        return ""
    return f"the connection to {mounted[0].host} was lost during borg create: {', '.join(cut)} incomplete"


def _answers(point: str) -> bool:
    if not is_mounted(point):
        return False
    try:
        os.stat(point)
    except OSError:
        return False
    return True


# --- mounting -------------------------------------------------------------------------------


def _mount(plan: BackupPlan, job: RepositoryJob, connection: SSHConnection, source: str, log) -> SourceMount:
    point = mount_point(plan, source)
    record = SourceMount.objects.create(
        run=job.run, job=job, source=source, host=describe_host(connection), mount_point=str(point),
        worker_host=socket.gethostname(),
    )  # fmt: skip
    _clear_leftover(point, record)
    point.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        _run_sshfs(connection, source, point)
    except SourceUnavailable as e:
        _unmount(point)  # nothing is left behind, even a half-made mount
        SourceMount.objects.filter(pk=record.pk).update(error=str(e)[:500], unmounted_at=timezone.now())
        raise
    record.mounted_at = timezone.now()
    record.save(update_fields=["mounted_at"])
    log(f"{job.repository.name}: mounted {source} from {record.host} read-only at {point}")
    return record


def _clear_leftover(point: Path, record: SourceMount) -> None:
    """A mount a dead worker left at this plan's mount point is ours: unmounted first."""
    for leftover in SourceMount.objects.filter(
        mount_point=str(point), worker_host=record.worker_host, unmounted_at__isnull=True
    ).exclude(pk=record.pk):
        SourceMount.objects.filter(pk=leftover.pk).update(unmounted_at=timezone.now())
    if is_mounted(point):
        _unmount(point)


def _run_sshfs(connection: SSHConnection, source: str, point: Path) -> None:
    sshfs = shutil.which("sshfs")
    if sshfs is None:
        raise SourceUnavailable("sshfs is not installed on the worker (the image has it; see docs/remote-sources.md)")
    with tempfile.TemporaryDirectory(prefix="borgui-sshfs-") as tmp:
        workdir = Path(tmp)
        options = sshfs_options(borg.ssh_command_options(connection, workdir))  # built by common/ssh.py
        argv = [
            sshfs, "-v", "-p", str(connection.port), "-o", ",".join(mount_options()), *options,
            "--", f"{connection.username}@{_host_part(connection.host)}:{source}", str(point),
        ]  # fmt: skip
        # A file, not a pipe: ssh keeps sshfs's stderr open for as long as the mount lives.
        errors = workdir / "sshfs.err"
        with open(errors, "wb") as stderr:
            try:
                # A session of its own (ssh included): a Ctrl-C meant for run_backup, or the
                # worker's process group being killed, does not cut the mount under borg; borgui
                # unmounts it itself, or its recovery does.
                completed = subprocess.run(
                    argv, env=ssh_client_environment(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                    stderr=stderr, timeout=MOUNT_TIMEOUT, check=False, start_new_session=True,
                )  # fmt: skip
            except subprocess.TimeoutExpired as e:
                raise SourceUnavailable(
                    f"could not mount {source} from {describe_host(connection)}: no answer in {MOUNT_TIMEOUT}s"
                ) from e
            except OSError as e:
                raise SourceUnavailable(f"could not run sshfs: {e.strerror}") from e
        if completed.returncode != 0 or not is_mounted(point):
            raise SourceUnavailable(mount_failure(errors.read_text(errors="replace"), source, connection))


def mount_options() -> list[str]:
    # Symlinks are read as they are (the Debian build rejects absolute and ".." targets by
    # default, which borg would store as unreadable); the mount is read-only and borg
    # never follows them.
    options = ["ro"]
    if _sshfs_knows("no_contain_symlinks"):
        options.append("no_contain_symlinks")
    return options


@functools.cache
def _sshfs_knows(option: str) -> bool:
    try:
        help_text = subprocess.run(["sshfs", "--help"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return option in help_text.stdout + help_text.stderr


def sshfs_options(ssh_options: list[str]) -> list[str]:
    """OpenSSH client options (as borg and hooks get them) in the form sshfs passes to ssh:
    ``-o Key=Value`` as it is, ``-i FILE`` as IdentityFile. ssh's own ``-E`` log is left
    out: sshfs -v hands ssh's messages to its stderr. fuse splits options at commas, so a
    comma in a value (a file name under the data directory) is escaped."""
    converted, words = [], iter(ssh_options)
    for word in words:
        value = next(words, "")
        if word == "-o":
            converted += ["-o", _fuse_escape(value)]
        elif word == "-i":
            converted += ["-o", _fuse_escape(f"IdentityFile={value}")]
    return converted


def _fuse_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace(",", "\\,")


def _host_part(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def ssh_client_environment() -> dict[str, str]:
    """sshfs and ssh get a minimal environment (PATH, locale, HOME, proxies, the agent), never
    borgui's settings or secrets (docs/security.md, "What child processes inherit")."""
    return childenv.minimal(os.environ, ssh.SSH_CLIENT_VARIABLES)


HOST_KEY_MISMATCH = "does not match the one stored for the connection (Host key verification failed)"


def ssh_failure_reason(messages: str, fallback: str = "ssh failed") -> str:
    """What ssh (and the remote side) said, as one line: a host key that does not match
    is named as such; otherwise the last line, without ssh's banner and notes."""
    lines = [line.strip() for line in messages.splitlines() if line.strip() and not line.startswith("@")]
    lines = [line for line in lines if "Permanently added" not in line]
    if any("Host key verification failed" in line for line in lines):
        return f"the host key {HOST_KEY_MISMATCH}"
    denied = [line for line in lines if "Permission denied" in line]
    return (denied or lines or [fallback])[-1]


def mount_failure(stderr: str, source: str, connection: SSHConnection) -> str:
    """sshfs's and ssh's messages as the job's one-line reason."""
    where = describe_host(connection)
    if "Host key verification failed" in stderr:
        return f"could not mount {source}: the host key of {where} {HOST_KEY_MISMATCH}"
    if "No such file or directory" in stderr:
        return f"source {source} does not exist on {where}"
    if "Not a directory" in stderr:
        return f"source {source} is not a directory on {where}"
    return f"could not mount {source} from {where}: {ssh_failure_reason(stderr, 'sshfs failed')}"


# --- unmounting -------------------------------------------------------------------------------


def is_mounted(point: Path | str) -> bool:
    return os.path.realpath(point) in mounted_points()


def mounted_points() -> set[str]:
    """Mount points in /proc/mounts (its octal escapes undone)."""
    try:
        lines = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return set()
    return {_unescape(line.split(" ")[1]) for line in lines if line.count(" ") >= 2}


def _unescape(field_text: str) -> str:
    return field_text.encode().decode("unicode_escape").encode("latin-1").decode(errors="surrogateescape")


def _unmount(point: Path | str) -> bool:
    """Unmount POINT if it is mounted; lazily when it is busy. True when it is gone."""
    for lazy in (False, True):
        if not is_mounted(point):
            return True
        argv = [_fusermount(), "-u", *(["-z"] if lazy else []), str(point)]
        try:
            subprocess.run(
                argv, env=ssh_client_environment(), capture_output=True, timeout=UNMOUNT_TIMEOUT, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        for _ in range(20):
            if not is_mounted(point):
                return True
            time.sleep(0.1)
    return not is_mounted(point)


@functools.cache
def _fusermount() -> str:
    return shutil.which("fusermount3") or shutil.which("fusermount") or "umount"


def _unmount_record(record: SourceMount, log) -> None:
    gone = _unmount(record.mount_point)
    record.unmounted_at = timezone.now() if gone else None
    record.save(update_fields=["unmounted_at"])
    log(f"{'unmounted' if gone else 'could not unmount'} {record.source} ({record.mount_point})")


def unmount_leftovers() -> int:
    """Mounts that jobs no longer running left on this machine (their worker died):
    unmounted, each in its run's log. The worker's recovery runs this; returns how many."""
    left = (
        SourceMount.objects.filter(worker_host=socket.gethostname(), unmounted_at__isnull=True)
        .exclude(run__status__in=Status.active_values())
        .select_related("run")
    )
    unmounted = 0
    for record in left:
        claimed = SourceMount.objects.filter(pk=record.pk, unmounted_at__isnull=True).update(
            unmounted_at=timezone.now()
        )
        if not claimed or _held_by_active_job(record):
            continue
        if _unmount(record.mount_point):
            unmounted += 1
            note = f"recovery: unmounted {record.source} ({record.mount_point}), left by a worker that stopped"
        else:
            SourceMount.objects.filter(pk=record.pk).update(unmounted_at=None)
            note = f"recovery: could not unmount {record.mount_point}; it is tried again every minute"
        log = RunLog(initial=record.run.log)
        log(note)
        PlanRun.objects.filter(pk=record.run_id).update(log=log.value())
    return unmounted


def _held_by_active_job(record: SourceMount) -> bool:
    """A newer run of the same plan has mounted the same point again: that mount is its own."""
    return (
        SourceMount.objects.filter(mount_point=record.mount_point, worker_host=record.worker_host)
        .filter(unmounted_at__isnull=True, run__status__in=Status.active_values())
        .exclude(pk=record.pk)
        .exists()
    )
