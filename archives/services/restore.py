"""Restore jobs (docs/archives.md, "Restore"): chosen paths of one archive into a target
directory, recorded, with live progress, cancel and a log, on the worker that takes it
(or in the foreground for the `restore` command).

Everything that can refuse is checked before anything is written, and checked again when
the job starts (the target may have changed meanwhile). borg follows symlinks that already
exist in the target, so items under such a symlink are excluded from the extract, listed,
and make the job a warning.
"""

import logging
import socket
import threading
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.db.models import Q, Sum
from django.utils import timezone
from django_q.tasks import async_task

from archives.models import Archive, ArchiveIndex, EntryType, RestoreJob, RestoreStatus
from archives.services import index as archive_index
from archives.services import paths, remote_target, targets
from archives.services.targets import RestoreRefused
from archives.signals import restore_finished
from common import shutdown
from common.text import SharedBoundedText
from repositories import borg
from repositories.models import LeaseMode, Repository
from repositories.services import leases, recovery
from repositories.services.monitor import worker_identity
from repositories.services.remote_sources import describe_host

logger = logging.getLogger(__name__)


def may_choose_any_target(user) -> bool:
    """Whether USER may restore outside BORGUI_RESTORE_ROOTS: the admin group's permission
    (docs/archives.md), never a group's name, so a renamed or custom group works the same."""
    return bool(user and user.has_perm("archives.restore_anywhere"))


def default_target(archive: Archive) -> str:
    root = targets.restore_roots()[0]
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    return str(root / f"{archive.repository.name}-{archive.name}-{stamp}".replace("/", "_"))


def stripped(path: str, strip_components: int) -> str:
    return "/".join(path.split("/")[strip_components:])


def check_paths(index: ArchiveIndex, chosen: list[str], strip_components: int) -> list[str]:
    """The chosen paths, normalised; refused when unknown, lossy, or strip_components breaks them."""
    chosen = sorted({paths.normalise(path) for path in chosen if paths.normalise(path)})
    destinations = {}
    for path in chosen:
        entry = archive_index.lookup(index, path)
        if entry is None:
            raise RestoreRefused(f"{path!r} does not exist in archive {index.archive.name}")
        if entry.name_lossy:
            raise RestoreRefused(f"{path!r} has a name that is not UTF-8: restore its directory instead")
        depth = paths.depth(path)
        if entry.type == EntryType.DIRECTORY and strip_components > depth:
            raise RestoreRefused(f"strip_components {strip_components} is more than the depth of {path!r}")
        if entry.type != EntryType.DIRECTORY and strip_components >= depth:
            raise RestoreRefused(f"strip_components {strip_components} would strip the name of {path!r}")
        destination = stripped(path, strip_components)
        if destination in destinations:
            raise RestoreRefused(f"{path!r} and {destinations[destination]!r} would land in one place")
        destinations[destination] = path
    return chosen


def request(
    archive: Archive, chosen: list[str], user=None, *, target: str, strip_components: int = 0,
    overwrite: bool = False, dry_run: bool = False, admin_group: bool = False, confirmed_root: bool = False,
    requested_from: str = "admin", target_connection=None,
) -> RestoreJob:  # fmt: skip
    """Check everything and record a pending job; RestoreRefused changes nothing.
    TARGET_CONNECTION: the target is on that SSH connection's machine (docs/remote-sources.md)."""
    if strip_components < 0:
        raise RestoreRefused("strip_components cannot be negative")
    index = archive_index.ready_index(archive)
    if index is None:
        raise RestoreRefused(f"the index of {archive.name} is not built yet")
    chosen = check_paths(index, chosen, strip_components)
    if target_connection is not None:
        remote = remote_target.check_target(target_connection, target, overwrite, admin_group, confirmed_root)
        resolved, host = remote.path, describe_host(target_connection)
    else:
        resolved, host = targets.check_target(target, overwrite, admin_group, confirmed_root), socket.gethostname()
    files, size = _totals(index, chosen)
    return RestoreJob.objects.create(
        repository=archive.repository, archive_name=archive.name, paths=chosen, target=str(resolved),
        host=host, target_connection=target_connection, strip_components=strip_components, overwrite=overwrite,
        dry_run=dry_run,
        requested_by=user if getattr(user, "pk", None) else None, requested_from=requested_from,
        files_total=files, bytes_total=size,
    )  # fmt: skip


def _selection(index: ArchiveIndex, chosen: list[str]):
    entries = archive_index.files_under(index, "")
    if chosen:
        condition = Q()
        for path in chosen:
            condition |= Q(path=path) | Q(path__startswith=path + "/")
        entries = entries.filter(condition)
    return entries


def _totals(index: ArchiveIndex, chosen: list[str]) -> tuple[int, int]:
    files = _selection(index, chosen).filter(type=EntryType.FILE)
    size = files.filter(hardlink_master="").aggregate(total=Sum("size"))["total"] or 0
    return files.count(), size


def queue(job: RestoreJob) -> None:
    async_task("archives.tasks.run_restore", job.pk, q_options={"timeout": -1})


def request_cancel(job: RestoreJob) -> bool:
    return bool(
        RestoreJob.objects.filter(pk=job.pk, status__in=[RestoreStatus.PENDING, RestoreStatus.RUNNING]).update(
            cancel_requested=True
        )
    )


def execute_queued(job_id: int) -> str:
    job = RestoreJob.objects.select_related("repository", "target_connection").filter(pk=job_id).first()
    if job is None:
        return "restore deleted"
    return execute(job).value


class _Monitor(threading.Thread):
    """Saves progress, heartbeat and log every second and watches for a cancel."""

    def __init__(self, job: RestoreJob, log: SharedBoundedText):
        super().__init__(daemon=True)
        self.job, self.log = job, log
        self.bytes_done = self.files_done = 0
        self.stopped = threading.Event()
        self.cancelled = threading.Event()
        self.on_cancel = None

    def run(self):
        try:
            while not self.stopped.wait(settings.BORGUI_HEARTBEAT_SECONDS):
                self.save()
                if shutdown.requested() or RestoreJob.objects.filter(pk=self.job.pk, cancel_requested=True).exists():
                    if not self.cancelled.is_set():
                        self.cancelled.set()
                        if self.on_cancel is not None:
                            self.on_cancel()
        finally:
            connection.close()

    def save(self):
        RestoreJob.objects.filter(pk=self.job.pk).update(
            bytes_done=self.bytes_done, files_done=self.files_done, heartbeat=timezone.now(), log=self.log.value()
        )


def execute(job: RestoreJob, echo=None) -> RestoreStatus:
    claimed = RestoreJob.objects.filter(pk=job.pk, status=RestoreStatus.PENDING).update(
        status=RestoreStatus.RUNNING,
        started=timezone.now(),
        heartbeat=timezone.now(),
        worker=worker_identity(),
        # The target is on the machine that runs the restore, or on its target connection's.
        host=describe_host(job.target_connection) if job.target_connection_id else socket.gethostname(),
    )
    if not claimed:
        job.refresh_from_db()
        return RestoreStatus(job.status)
    log = SharedBoundedText()

    def say(line: str) -> None:
        log.append(f"{timezone.localtime().strftime('%H:%M:%S')} {line}\n")
        if echo is not None:
            echo(line)

    monitor = _Monitor(job, log)
    monitor.start()
    status, reason = RestoreStatus.FAILURE, "internal error"
    try:
        status, reason = _restore(job, say, monitor)
    except (RestoreRefused, leases.RepositoryBusy) as e:
        status, reason = RestoreStatus.FAILURE, "cancelled" if monitor.cancelled.is_set() else str(e)
    except Exception as e:
        logger.exception("restore %s failed", job.pk)
        reason = f"internal error: {e}"
    finally:
        monitor.stopped.set()
        monitor.join()
    say(f"restore {job.pk} finished: {status.value}" + (f" ({reason})" if reason else ""))
    monitor.save()
    RestoreJob.objects.filter(pk=job.pk).update(
        status=status, reason=reason[:500], finished=timezone.now(), log=log.value()
    )
    job.refresh_from_db()
    announce_finished([job])
    return status


def announce_finished(jobs) -> None:
    """Tell the listeners (archives.signals.restore_finished); a listener's error never
    changes a restore."""
    for job in jobs:
        for _receiver, error in restore_finished.send_robust(sender=RestoreJob, job=job):
            if isinstance(error, Exception):
                logger.error("a listener of restore %s failed: %s", job.pk, error)


def _restore(job: RestoreJob, say, monitor: _Monitor) -> tuple[RestoreStatus, str]:
    repository: Repository = job.repository
    archive = Archive.objects.filter(repository=repository, name=job.archive_name).first()
    index = archive_index.ready_index(archive) if archive else None
    if index is None:
        raise RestoreRefused(f"archive {job.archive_name} or its index is gone")
    what = ", ".join(job.paths) if job.paths else "the whole archive"
    say(f"restore {job.pk}: {what} of {repository.name}::{job.archive_name} into {job.target}")
    with leases.hold(repository, LeaseMode.READ, f"restore {job.pk}", cancelled=monitor.cancelled.is_set, on_wait=say):
        if job.target_connection_id:
            result, skipped = _restore_to_host(job, index, say, monitor)
            return _outcome(job, result, skipped, say, monitor)
        # Checked again now: the target may have changed since the job was asked for.
        target = targets.check_target(job.target, job.overwrite, any_place=True, confirmed_root=True)
        skipped = _under_existing_symlinks(index, job, targets.symlinks_under(target) if job.overwrite else set())
        for path in skipped:
            say(f"skipped {path}: a symlink already in the target would take it elsewhere")
        if monitor.cancelled.is_set():
            return RestoreStatus.FAILURE, "cancelled"
        if not job.dry_run:
            target.mkdir(parents=True, exist_ok=True)
        result = _extract(job, target, skipped, say, monitor)
    return _outcome(job, result, skipped, say, monitor)


def _restore_to_host(job: RestoreJob, index: ArchiveIndex, say, monitor: _Monitor):
    """The target on a source host (docs/remote-sources.md): checked there again, then
    borg export-tar streamed into tar on the host (a dry run lists, as here)."""
    target = remote_target.check_target(
        job.target_connection, job.target, job.overwrite, any_place=True, confirmed_root=True
    )
    links = remote_target.symlinks_under(target) if job.overwrite else set()
    skipped = _under_existing_symlinks(index, job, links)
    for path in skipped:
        say(f"skipped {path}: a symlink already in the target would take it elsewhere")
    if monitor.cancelled.is_set():
        return None, skipped
    if job.dry_run:
        return _extract(job, Path("/"), skipped, say, monitor), skipped
    say(f"streaming borg export-tar into tar on {target.describe()}")
    result = remote_target.stream(job, target, skipped, monitor)
    if result.exit_code == 0:
        monitor.files_done = job.files_total or monitor.files_done
    return result, skipped


def _outcome(job: RestoreJob, result, skipped: list[str], say, monitor: _Monitor) -> tuple[RestoreStatus, str]:
    if monitor.cancelled.is_set() or result is None:
        return RestoreStatus.FAILURE, "cancelled"
    if result.exit_code != 0:
        say(result.error_line())
    status = {0: RestoreStatus.SUCCESS, 1: RestoreStatus.WARNING}.get(result.exit_code, RestoreStatus.FAILURE)
    if skipped and status == RestoreStatus.SUCCESS:
        return RestoreStatus.WARNING, f"{len(skipped)} item(s) skipped under existing symlinks"
    if status != RestoreStatus.FAILURE:
        return status, ""
    if isinstance(result, remote_target.StreamResult):
        return status, result.error_line()
    return status, f"borg extract exit {result.exit_code}"


def _under_existing_symlinks(index: ArchiveIndex, job: RestoreJob, links: set[str]) -> list[str]:
    """Archive paths whose destination is, or lies below, one of LINKS (the symlinks
    already in the target, relative to it)."""
    if not links:
        return []
    skipped: list[str] = []
    entries = _selection(index, job.paths).exclude(synthetic=True).order_by("path").values_list("path", flat=True)
    for path in entries.iterator(chunk_size=2000):
        if skipped and path.startswith(skipped[-1] + "/"):
            continue
        destination = stripped(path, job.strip_components)
        if destination and any(part in links for part in [*paths.ancestors(destination), destination]):
            skipped.append(path)
    return skipped


def _extract(job: RestoreJob, target: Path, skipped: list[str], say, monitor: _Monitor) -> borg.BorgResult:
    seen = {"path": None}

    def on_event(event: dict) -> None:
        if event.get("type") == "progress_percent" and event.get("current") is not None:
            monitor.bytes_done = event["current"]
            info = (event.get("info") or [None])[0]
            if info and info != seen["path"]:
                seen["path"] = info
                monitor.files_done += 1
        elif event.get("type") == "log_message" and event.get("name") == "borg.output.list":
            say(f"would restore: {event.get('message', '')}")

    def on_start(process: borg.BorgProcess) -> None:
        monitor.on_cancel = process.interrupt
        if monitor.cancelled.is_set():
            process.interrupt()

    ref = borg.archive_ref(job.repository, job.archive_name)
    args = borg.extract_args(ref, job.paths, job.strip_components, job.dry_run, skipped)
    if job.dry_run:
        args.insert(1, "--list")
    cwd = str(target) if target.is_dir() else "/"
    result = borg.run(job.repository, args, on_event=on_event, on_start=on_start, cwd=cwd)
    if not job.dry_run and result.exit_code == 0:
        monitor.files_done = job.files_total or monitor.files_done
        monitor.bytes_done = job.bytes_total or monitor.bytes_done
    return result


def recover_interrupted(stale_after: float | None = None) -> int:
    """Restores whose worker died (heartbeat stopped, or its process here gone) or that no
    worker took: failure."""
    from datetime import timedelta

    stale_after = settings.BORGUI_STALE_AFTER_SECONDS if stale_after is None else stale_after
    now = timezone.now()
    running = RestoreJob.objects.filter(status=RestoreStatus.RUNNING)
    dead = RestoreJob.objects.filter(pk__in=recovery.dead_ids(running, stale_after), status=RestoreStatus.RUNNING)
    never = RestoreJob.objects.filter(
        status=RestoreStatus.PENDING, created__lt=now - timedelta(seconds=settings.BORGUI_PENDING_EXPIRY_SECONDS)
    )
    count = 0
    reasons = {"interrupted: the worker running it stopped": dead, "never started: no worker took it": never}
    for reason, found in reasons.items():
        ids = list(found.values_list("pk", flat=True))
        # The status filter again: a job that finished meanwhile keeps its own status.
        count += found.filter(pk__in=ids).update(status=RestoreStatus.FAILURE, reason=reason, finished=now)
        finished = RestoreJob.objects.filter(pk__in=ids, status=RestoreStatus.FAILURE, finished=now)
        announce_finished(finished.order_by("pk"))
    return count
