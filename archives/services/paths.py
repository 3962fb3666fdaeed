"""Paths inside an archive: as borg stores them, without a leading `/` (docs/archives.md)."""


def normalise(path: str | None) -> str:
    """`/srv/data/`, `srv/data` and `./srv/data` are the same path; "" is the archive's root."""
    path = (path or "").strip("/")
    while path.startswith("./"):
        path = path[2:].lstrip("/")
    return "" if path == "." else path


def parent_of(path: str) -> str:
    return path.rpartition("/")[0]


def ancestors(path: str) -> list[str]:
    """`a/b/c` → [`a`, `a/b`] (outermost first)."""
    parts = path.split("/")[:-1]
    return ["/".join(parts[: depth + 1]) for depth in range(len(parts))]


def depth(path: str) -> int:
    return path.count("/") + 1 if path else 0
