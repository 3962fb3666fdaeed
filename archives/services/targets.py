"""Where a restore may write (docs/archives.md, "Restore"): checked with symlinks resolved."""

import os
from pathlib import Path, PurePath

from django.conf import settings

from repositories.models import Repository


class RestoreRefused(Exception):
    """Why a restore will not run, in one line; nothing was changed."""


def resolved(target: str) -> Path:
    if not target or not os.path.isabs(target):
        raise RestoreRefused(f"the target must be an absolute path, not {target!r}")
    return Path(os.path.realpath(target))


def _overlaps(a: PurePath, b: PurePath) -> bool:
    return a == b or a.is_relative_to(b) or b.is_relative_to(a)


def forbidden_places() -> list[tuple[str, Path]]:
    places = [("borgui's data directory", Path(os.path.realpath(settings.DATA_DIR)))]
    for repository in Repository.objects.order_by("pk"):
        if not repository.is_remote:
            places.append((f"repository {repository.name}", Path(os.path.realpath(repository.location))))
    return places


def restore_roots() -> list[Path]:
    return [Path(os.path.realpath(root)) for root in settings.BORGUI_RESTORE_ROOTS]


def check_target(target: str, overwrite: bool, any_place: bool, confirmed_root: bool = False) -> Path:
    """The resolved target, or RestoreRefused. ANY_PLACE: outside BORGUI_RESTORE_ROOTS too
    (the `admin` group, and the machine's operator with the `restore` command)."""
    path = resolved(target)
    check_resolved(path, target, overwrite, any_place, confirmed_root)
    if path.exists() or path.is_symlink():
        if not path.is_dir():
            raise RestoreRefused(f"{target} exists and is not a directory")
        if not overwrite and any(path.iterdir()):
            raise RestoreRefused(f"{target} is not empty: choose an empty or new directory, or overwrite")
    return path


def check_resolved(path: PurePath, target: str, overwrite: bool, any_place: bool, confirmed_root: bool) -> None:
    """The rules on where a target lies, for a target resolved here or on a source host
    (docs/remote-sources.md): never borgui's data or a local repository, under a restore
    root unless ANY_PLACE, / only with overwrite and the typed confirmation."""
    for what, place in forbidden_places():
        if _overlaps(path, place):
            raise RestoreRefused(f"{target} is, contains or lies inside {what} ({place}): choose another target")
    if not any_place and not any(path.is_relative_to(root) for root in restore_roots()):
        roots = ", ".join(str(root) for root in restore_roots())
        raise RestoreRefused(f"{target} is not under a restore root ({roots}); only the admin group may choose it")
    if str(path) == "/" and not (overwrite and confirmed_root):
        raise RestoreRefused("restoring to / needs overwrite and the typed confirmation")


def symlinks_under(target: Path) -> set[str]:
    """Relative paths of the symlinks already under TARGET (borg would write through them)."""
    found = set()
    if not target.is_dir():
        return found
    for directory, dirnames, filenames in os.walk(target):
        for name in dirnames + filenames:
            full = os.path.join(directory, name)
            if os.path.islink(full):
                found.add(os.path.relpath(full, target))
    return found
