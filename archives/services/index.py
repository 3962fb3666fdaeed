"""The index of an archive (docs/archives.md, "The index"): every item in a database table
with an index on (archive, parent path), so a directory listing or a search is answered
without borg, by any web or worker process on any machine.

Built once by streaming `borg list --json-lines` in batches (memory bounded by the batch
and by the number of directories, never by the number of items), reused, dropped with its
archive, and capped by BORGUI_INDEX_CACHE_MB: least recently used indexes are dropped first.
"""

import json
import logging
import queue
import threading
import time
from datetime import datetime, timedelta
from typing import NamedTuple

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Sum
from django.utils import timezone

from archives.models import Archive, ArchiveEntry, ArchiveIndex, EntryType, IndexState
from archives.services import borgtime, paths
from archives.services.catalog import ArchiveError
from repositories import borg
from repositories.models import LeaseMode
from repositories.services import leases

logger = logging.getLogger(__name__)
BATCH = 5000
SEARCH_LIMIT = 1000
# Rough bytes per row beyond its text (row header, fixed columns, index entry).
_ROW_OVERHEAD = 150


class Row(NamedTuple):
    """One ArchiveEntry row as it is written (columns in this order), without a model object."""

    index_id: int
    parent: str
    path: str
    dirs_first: int
    type: str
    size: int | None
    mtime: datetime | None
    mode: str
    user: str
    group: str
    linktarget: str
    hardlink_master: str
    healthy: bool
    name_lossy: bool
    synthetic: bool


COLUMNS = Row._fields


def entry_from_item(index_id: int, item: dict) -> Row | None:
    path = paths.normalise(item.get("path", ""))
    if not path:
        return None  # "." is the archive's root, not an entry
    mode = item.get("mode", "")
    kind = item.get("type", "")
    master = ""
    if mode.startswith("h"):
        # A hard link: borg lists it with size 0 and its master in linktarget; shown as a
        # file with the master's size, and downloaded from the master.
        master, mode, kind = item.get("linktarget", ""), "-" + mode[1:], EntryType.FILE
    return Row(
        index_id, paths.parent_of(path), path, 0 if kind == EntryType.DIRECTORY else 1, kind, item.get("size"),
        borgtime.parse(item.get("mtime")), mode, item.get("user") or "", item.get("group") or "",
        item.get("linktarget", "") if kind == EntryType.SYMLINK else "", master, item.get("healthy", True),
        # borg 1.2 writes a name that is not UTF-8 with "?" in place of the bytes it cannot show.
        "?" in path.rpartition("/")[2], False,
    )  # fmt: skip


def synthetic_directory(index_id: int, path: str) -> Row:
    return Row(
        index_id, paths.parent_of(path), path, 0, EntryType.DIRECTORY, None, None, "", "", "", "", "", True, False, True
    )


def _row_bytes(row: Row) -> int:
    text = len(row.path) * 2 + len(row.parent) * 2 + len(row.linktarget) + len(row.hardlink_master)
    return text + len(row.user) + len(row.group) + len(row.mode) + _ROW_OVERHEAD


def insert_rows(rows: list[Row]) -> None:
    """Many rows in one go: COPY on PostgreSQL, one executemany elsewhere."""
    table = connection.ops.quote_name(ArchiveEntry._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(column) for column in COLUMNS)
    with transaction.atomic(), connection.cursor() as cursor:  # one commit per batch, not per row
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        mtime = COLUMNS.index("mtime")
        adapt = connection.ops.adapt_datetimefield_value
        values = [(*row[:mtime], adapt(row.mtime) if row.mtime else None, *row[mtime + 1 :]) for row in rows]
        placeholders = ", ".join(["%s"] * len(COLUMNS))
        cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({placeholders})", values)


class _Writer(threading.Thread):
    """Writes batches on its own database connection while the builder parses the next one
    (at most two batches wait, so memory stays bounded)."""

    def __init__(self, index_pk: int):
        super().__init__(daemon=True)
        self.index_pk = index_pk
        self.batches: queue.Queue = queue.Queue(maxsize=2)
        self.error: BaseException | None = None

    def run(self):
        try:
            while (batch := self.batches.get()) is not None:
                if self.error is None:
                    try:
                        insert_rows(batch)
                        ArchiveIndex.objects.filter(pk=self.index_pk).update(heartbeat=timezone.now())
                    except BaseException as e:  # handed to the builder, which raises it
                        self.error = e
        finally:
            connection.close()

    def put(self, batch: list) -> None:
        if self.error is not None:
            raise self.error
        self.batches.put(batch)

    def finish(self) -> None:
        self.batches.put(None)
        self.join()
        if self.error is not None:
            raise self.error

    def abandon(self) -> None:
        """After a failure elsewhere: write nothing more, and end."""
        if self.is_alive():
            self.error = self.error or ArchiveError("index build abandoned")
            self.batches.put(None)
            self.join()


class _Builder:
    def __init__(self, index: ArchiveIndex):
        self.index = index
        self.batch: list[Row] = []
        self.directories: set[str] = set()
        self.entries = self.disk_bytes = self.total_size = 0
        self.writer = _Writer(index.pk)
        self.writer.start()

    def add(self, entry: Row) -> None:
        for ancestor in paths.ancestors(entry.path):
            if ancestor not in self.directories:
                self.directories.add(ancestor)
                self._append(synthetic_directory(self.index.pk, ancestor))
        if entry.type == EntryType.DIRECTORY:
            if entry.path in self.directories:
                return  # already listed as a synthetic parent; rare (borg lists parents first)
            self.directories.add(entry.path)
        elif not entry.hardlink_master:
            self.total_size += entry.size or 0
        self._append(entry)

    def _append(self, entry: Row) -> None:
        self.batch.append(entry)
        self.entries += 1
        self.disk_bytes += _row_bytes(entry)
        if len(self.batch) >= BATCH:
            self.flush()

    def flush(self) -> None:
        if self.batch:
            self.writer.put(self.batch)
            self.batch = []

    def finish(self) -> None:
        self.flush()
        self.writer.finish()


def build(archive: Archive, holder: str = "index build") -> ArchiveIndex:
    """Build (or rebuild) the index of ARCHIVE in this process."""
    index, _ = ArchiveIndex.objects.get_or_create(archive=archive)
    fresh = timezone.now() - timedelta(seconds=settings.BORGUI_STALE_AFTER_SECONDS)
    claimed = (
        ArchiveIndex.objects.filter(pk=index.pk)
        .exclude(state=IndexState.BUILDING, heartbeat__gte=fresh)
        .update(state=IndexState.BUILDING, heartbeat=timezone.now(), error="", entries=0)
    )
    if not claimed:
        return _wait_for_other_build(index)
    index.drop_entries()
    builder = _Builder(index)
    try:
        with leases.hold(archive.repository, LeaseMode.READ, f"{holder} of {archive}"):
            with borg.stream_items(archive.repository, archive.name) as stream:
                for line in stream.lines():
                    entry = entry_from_item(index.pk, json.loads(line)) if line.startswith("{") else None
                    if entry is not None:
                        builder.add(entry)
                builder.finish()
        if not stream.result.ok:
            raise ArchiveError(f"borg list failed: {stream.result.error_line()}")
        _sizes_from_masters(index)
        _analyze()
    except Exception as e:
        builder.writer.abandon()
        index.drop_entries()
        message = str(e) if isinstance(e, (ArchiveError, leases.RepositoryBusy)) else f"internal error: {e}"
        ArchiveIndex.objects.filter(pk=index.pk).update(state=IndexState.FAILED, error=message[:500], entries=0)
        raise ArchiveError(message) from e
    now = timezone.now()
    ArchiveIndex.objects.filter(pk=index.pk).update(
        state=IndexState.READY, entries=builder.entries, disk_bytes=builder.disk_bytes,
        total_size=builder.total_size, built=now, last_used=now,
    )  # fmt: skip
    index.refresh_from_db()
    evict(keep=index)
    return index


def _analyze() -> None:
    """PostgreSQL plans the listing query from table statistics: after a bulk load they are
    stale (a sequential scan instead of the index) until autovacuum comes round."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(ArchiveEntry._meta.db_table)}")


def _wait_for_other_build(index: ArchiveIndex, poll: float = 0.5) -> ArchiveIndex:
    """Another process is building this index: wait for it instead of building it twice."""
    while True:
        index.refresh_from_db()
        if index.state == IndexState.READY:
            return index
        if not building_elsewhere(index) or index.state == IndexState.FAILED:
            raise ArchiveError(
                f"the index of {index.archive} could not be built: {index.error or 'its builder stopped'}"
            )
        time.sleep(poll)


def _sizes_from_masters(index: ArchiveIndex) -> None:
    """A hard link is shown with its master's size (borg lists the link with size 0)."""
    links = ArchiveEntry.objects.filter(index=index).exclude(hardlink_master="").only("pk", "hardlink_master")
    for link in links.iterator(chunk_size=BATCH):
        master = lookup(index, link.hardlink_master)
        if master is not None:
            ArchiveEntry.objects.filter(pk=link.pk).update(size=master.size)


def evict(keep: ArchiveIndex | None = None) -> list[int]:
    """Drop least recently used indexes until the rest fit BORGUI_INDEX_CACHE_MB."""
    cap = settings.BORGUI_INDEX_CACHE_MB * 1024 * 1024
    ready = ArchiveIndex.objects.filter(state=IndexState.READY)
    total = ready.aggregate(total=Sum("disk_bytes"))["total"] or 0
    dropped = []
    for index in ready.exclude(pk=getattr(keep, "pk", None)).order_by("last_used", "id"):
        if total <= cap:
            break
        total -= index.disk_bytes
        dropped.append(index.archive_id)
        with transaction.atomic():
            index.delete()
    return dropped


def building_elsewhere(index: ArchiveIndex) -> bool:
    """Queued or being built by a live process (its heartbeat is fresh)."""
    fresh = timezone.now() - timedelta(seconds=settings.BORGUI_STALE_AFTER_SECONDS)
    if index.state == IndexState.QUEUED:
        return index.created >= timezone.now() - timedelta(seconds=settings.BORGUI_PENDING_EXPIRY_SECONDS)
    return index.state == IndexState.BUILDING and index.heartbeat >= fresh


def ready_index(archive: Archive) -> ArchiveIndex | None:
    index = ArchiveIndex.objects.filter(archive=archive, state=IndexState.READY).first()
    if index is not None:
        ArchiveIndex.objects.filter(pk=index.pk).update(last_used=timezone.now())
    return index


def ensure(archive: Archive, holder: str = "command") -> ArchiveIndex:
    """The archive's index, built here if it is missing (commands: no worker needed)."""
    return ready_index(archive) or build(archive, holder=holder)


def lookup(index: ArchiveIndex, path: str) -> ArchiveEntry | None:
    path = paths.normalise(path)
    if not path or "\x00" in path:  # no archive path holds a NUL, and PostgreSQL refuses one
        return None
    return ArchiveEntry.objects.filter(
        index=index, parent=paths.parent_of(path), dirs_first__in=[0, 1], path=path
    ).first()


def children(index: ArchiveIndex, path: str):
    """One directory's entries, directories first, then by name (a queryset: page it)."""
    return ArchiveEntry.objects.filter(index=index, parent=paths.normalise(path)).order_by("dirs_first", "path")


def search(index: ArchiveIndex, text: str, limit: int = SEARCH_LIMIT) -> list[ArchiveEntry]:
    matches = ArchiveEntry.objects.filter(index=index, path__icontains=text).order_by("path")
    return list(matches[:limit])


def files_under(index: ArchiveIndex, path: str):
    """Every entry at or below PATH ("" = all)."""
    path = paths.normalise(path)
    entries = ArchiveEntry.objects.filter(index=index)
    if path:
        from django.db.models import Q

        entries = entries.filter(Q(path=path) | Q(path__startswith=path + "/"))
    return entries


def entry_json(entry: ArchiveEntry) -> dict:
    data = {
        "path": entry.path, "name": entry.name, "type": entry.type, "size": entry.size,
        "mtime": entry.mtime.isoformat(timespec="microseconds") if entry.mtime else None,
        "mode": entry.mode or None, "user": entry.user or None, "group": entry.group or None,
        "linktarget": entry.linktarget if entry.type == EntryType.SYMLINK else None,
    }  # fmt: skip
    if entry.name_lossy:
        data["name_lossy"] = True
    if not entry.healthy:
        data["healthy"] = False
    return data
