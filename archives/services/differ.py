"""Diff of two archives (docs/archives.md, "Diff") from `borg diff --json-lines`, streamed.

borg's change types map to: `added` / `removed` (files, directories, links), `modified`
(content added or removed, or a changed link target) and `metadata` (mode, owner, times
only). size_delta: the size, minus the size, or added − removed bytes. Directories whose
only changes are times are left out.
"""

import json

from django_q.models import Task
from django_q.tasks import async_task

from archives.models import Archive
from archives.services import paths
from archives.services.catalog import ArchiveError
from repositories import borg
from repositories.models import LeaseMode
from repositories.services import leases

_TIMES = {"mtime", "ctime", "atime", "birthtime"}
SHOWN_LIMIT = 20000


def classify(item: dict) -> dict | None:
    """One line of borg diff as {path, change, size_delta}; None for a directory's time change."""
    changes = item.get("changes", [])
    kinds = {change.get("type") for change in changes}
    path = item.get("path", "")
    for change in changes:
        if change.get("type") == "added":
            return {"path": path, "change": "added", "size_delta": change.get("size", 0)}
        if change.get("type") == "removed":
            return {"path": path, "change": "removed", "size_delta": -change.get("size", 0)}
    if kinds & {"added directory", "added link"}:
        return {"path": path, "change": "added", "size_delta": 0}
    if kinds & {"removed directory", "removed link"}:
        return {"path": path, "change": "removed", "size_delta": 0}
    for change in changes:
        # borg 1.2 also reports "modified" with 0 added and 0 removed for unchanged content.
        if change.get("type") == "modified" and (change.get("added") or change.get("removed")):
            return {"path": path, "change": "modified", "size_delta": change.get("added", 0) - change.get("removed", 0)}
    if "changed link" in kinds:
        return {"path": path, "change": "modified", "size_delta": 0}
    kinds.discard("modified")
    if kinds and kinds <= _TIMES:
        return None  # only times changed: a directory whose contents changed, left out
    return {"path": path, "change": "metadata", "size_delta": 0} if kinds else None


def diff(old: Archive, new: Archive, only: list[str] = (), holder: str = "diff"):
    """The changes from OLD to NEW (optionally below paths ONLY), one at a time."""
    chosen = [paths.normalise(path) for path in only if paths.normalise(path)]
    with leases.hold(old.repository, LeaseMode.READ, f"{holder} of {old.repository.name}"):
        with borg.stream_diff(old.repository, old.name, new.name, chosen) as stream:
            for line in stream.lines():
                if line.startswith("{"):
                    change = classify(json.loads(line))
                    if change is not None:
                        yield change
    if not stream.result.ok:
        raise ArchiveError(f"borg diff failed: {stream.result.error_line()}")


def queue(old: Archive, new: Archive) -> str:
    return async_task("archives.services.differ.diff_task", old.pk, new.pk)


def diff_task(old_id: int, new_id: int) -> dict:
    old, new = Archive.objects.get(pk=old_id), Archive.objects.get(pk=new_id)
    title = f"Changes from {old.name} to {new.name}"
    try:
        changes = []
        for change in diff(old, new):
            if len(changes) < SHOWN_LIMIT:
                changes.append(change)
    except (ArchiveError, leases.RepositoryBusy) as e:
        return {"title": title, "ok": False, "message": str(e)}
    return {"title": title, "ok": True, "changes": changes, "message": f"{len(changes)} change(s)"}


def task_result(task_id: str) -> dict | None:
    """The result of a queued diff or delete, None while it has not finished."""
    task = Task.objects.filter(id=task_id).first()
    if task is None:
        return None
    if not task.success:
        return {"title": "Failed", "ok": False, "message": str(task.result)[:500]}
    return task.result
