"""Downloads (docs/archives.md, "Download"): a file's bytes from `borg extract --stdout`
(of its master for a hard link), a directory or the whole archive as a `.tar.gz` from
`borg export-tar`, streamed: nothing is held whole in memory or written to disk.

The path is resolved in the index first (an unknown path never reaches borg, whose
export-tar of a missing path is a valid empty tar and exit 1). The repository is held as a
reader from the first byte to the last; a writer holding it is refused at once.
"""

from contextlib import ExitStack
from dataclasses import dataclass

from archives.models import Archive, EntryType
from archives.services import index, paths
from archives.services.catalog import ArchiveError
from repositories import borg
from repositories.models import LeaseMode
from repositories.services import leases

CHUNK = 256 * 1024


class UnknownPath(ArchiveError):
    pass


class IndexNotReady(ArchiveError):
    pass


class StreamFailed(ArchiveError):
    """borg failed after bytes went out: the receiver must see a failed transfer."""


@dataclass
class Download:
    filename: str
    content_length: int | None
    is_tar: bool
    _stack: ExitStack
    _stream: borg.BorgStream
    _first: bytes = b""

    def __iter__(self):
        try:
            if self._first:
                yield self._first
            while chunk := self._stream.stdout.read(CHUNK):
                yield chunk
            if self._stream.wait() != 0:
                raise StreamFailed(f"borg failed mid-stream: {self._stream.result.error_line()}")
        finally:
            self.close()

    def close(self) -> None:
        """Also when the receiver went away: borg is stopped and the lease given back."""
        if self._stream.process.poll() is None:
            self._stream.stop()
        self._stack.close()


def _filename(archive: Archive, entry) -> tuple[str, bool]:
    if entry is None:
        return f"{archive.name}.tar.gz", True
    if entry.type == EntryType.DIRECTORY:
        return f"{entry.name}.tar.gz", True
    return entry.name, False


def open_download(archive: Archive, path: str, holder: str, index_=None, wait_seconds: float = 0) -> Download:
    """Start streaming PATH ("" = the whole archive). Raises UnknownPath, IndexNotReady,
    leases.RepositoryBusy (a writer holds the repository) or ArchiveError."""
    path = paths.normalise(path)
    built = index_ or index.ready_index(archive)
    if built is None:
        raise IndexNotReady(f"the index of {archive.name} is not built yet")
    entry = index.lookup(built, path) if path else None
    if path and entry is None:
        raise UnknownPath(f"{path!r} does not exist in archive {archive.name}")
    if entry is not None and entry.type not in (EntryType.DIRECTORY, EntryType.FILE):
        raise UnknownPath(f"{path!r} is not a file or a directory (type {entry.type!r})")
    filename, is_tar = _filename(archive, entry)
    stack = ExitStack()
    try:
        stack.enter_context(leases.hold(archive.repository, LeaseMode.READ, holder, wait_seconds=wait_seconds))
        if is_tar:
            stream = stack.enter_context(borg.stream_tar(archive.repository, archive.name, [path] if path else []))
        else:
            source = entry.hardlink_master or entry.path  # a hard link's bytes are its master's
            stream = stack.enter_context(borg.stream_file(archive.repository, archive.name, source))
        first = stream.stdout.read(CHUNK)
        if not first and stream.wait() != 0:
            stack.close()
            raise ArchiveError(f"borg failed: {stream.result.error_line()}")
    except BaseException:
        stack.close()
        raise
    return Download(filename, None if is_tar else entry.size, is_tar, stack, stream, first)
