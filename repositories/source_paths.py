"""Rules for the sources of a plan whose sources are on its source host (docs/remote-sources.md).

borg runs from the plan's mount root with each source as a relative path, so the archive
holds ``srv/data/…`` exactly as a local backup of ``/srv/data`` would. That needs each
source to be an absolute, plain path (no ``.`` or ``..``), not ``/`` itself (borg would get
no path to name it by, and a whole remote root over SSHFS reads /proc and /sys too), and
no source inside another (one cannot be mounted inside the other's read-only mount).
"""

from pathlib import PurePosixPath


def relative_source(source: str) -> str:
    """The path borg gets for SOURCE, relative to the mount root: /srv/data/ → srv/data."""
    return str(PurePosixPath(source)).lstrip("/")


def remote_sources_problem(sources: list[str]) -> str | None:
    for source in sources:
        parts = source.split("/")
        if not source.startswith("/"):
            return f"{source}: sources on the source host are absolute paths (/srv/data)."
        if any(part in (".", "..") for part in parts):
            return f"{source}: give the path without . or .. in it."
        if not relative_source(source):
            return "/ cannot be a source on the source host: give the directories to back up."
    relative = sorted(PurePosixPath(relative_source(source)) for source in sources)
    for outer, inner in zip(relative, relative[1:], strict=False):
        if inner == outer or outer in inner.parents:
            return f"/{inner} lies inside /{outer}: on the source host each source is mounted on its own."
    return None
