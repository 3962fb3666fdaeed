"""Helpers for plans whose sources are on a source host (docs/remote-sources.md)."""

import json
from pathlib import Path

from django.conf import settings

from repositories import borg
from repositories.models import SSHConnection


def connect(server, name: str = "web1", **fields) -> SSHConnection:
    values = dict(
        host=server.host, port=server.port, username=server.user, private_key=server.private_key,
        known_hosts=server.known_hosts,
    )  # fmt: skip
    return SSHConnection.objects.create(name=name, **{**values, **fields})


def sshfs_mounts() -> list[str]:
    """fuse.sshfs mount points under this test session's data directory."""
    ours = str(Path(settings.DATA_DIR).resolve())
    lines = Path("/proc/mounts").read_text().splitlines()
    return [line.split()[1] for line in lines if line.split()[2] == "fuse.sshfs" and line.split()[1].startswith(ours)]


def archive_items(repository, archive: str) -> dict[str, dict]:
    """path → item (type, size, uid…) of every item in an archive, as borg lists it."""
    result = borg.run(repository, ["list", "--json-lines", "--", f"{repository.location}::{archive}"])
    assert result.ok, result.log_lines
    return {item["path"]: item for item in map(json.loads, result.stdout.splitlines())}


def extract_text(repository, archive: str, path: str) -> str:
    result = borg.run(repository, ["extract", "--stdout", "--", f"{repository.location}::{archive}", path])
    assert result.ok, result.log_lines
    return result.stdout
