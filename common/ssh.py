"""The one builder of OpenSSH client options, for borg (BORG_RSH) and hooks on a source host.

A connection's host key is either given (its ``known_hosts`` text: then only that key is
accepted) or trusted on first use and pinned in a file per connection. A given key may be
a bare ``type key`` line, as ``ssh-keyscan`` prints it without the host or as a server's
``.pub`` file: it gets the host pattern ssh looks up, so the same text verifies for borg and
for hooks. The private key, when given, is the only identity offered. Every file is
written 0600 into a private directory the caller owns and removes.
"""

import math
import os
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

SSH_CLIENT_VARIABLES = ("PATH", "HOME", "USER", "LOGNAME", "SSH_AUTH_SOCK")
_KEY_TYPES = ("ssh-", "ecdsa-", "sk-")


@dataclass
class SSHTarget:
    host: str
    port: int
    username: str
    private_key: str = ""  # key text; empty: the worker's own ssh set-up is used
    known_hosts: str = ""  # known_hosts line(s); empty: accept-new into the pinned file


def pinned_known_hosts(connection_id: int) -> Path:
    """Where a connection's host key is pinned on first use (borg and hooks share it)."""
    known_hosts_dir = Path(settings.DATA_DIR) / "ssh"
    known_hosts_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    return known_hosts_dir / f"known_hosts.{connection_id}"


def unix_lines(text: str) -> str:
    """Text pasted into a browser comes back with CR LF line ends, which ssh refuses in a key."""
    return "\n".join(line.strip() for line in text.replace("\r\n", "\n").strip().split("\n")) + "\n"


def known_hosts_text(target: SSHTarget) -> str:
    """The stored entry; a bare "type key" line gets the host pattern ssh looks up."""
    pattern = target.host if target.port == 22 else f"[{target.host}]:{target.port}"
    lines = []
    for line in unix_lines(target.known_hosts).rstrip("\n").split("\n"):
        bare = line.startswith(_KEY_TYPES)
        lines.append(f"{pattern} {line}" if bare else line)
    return "\n".join(lines) + "\n"


def write_private(path: Path, text: str) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)


def option_path(path: Path | str) -> str:
    # ssh splits option values on spaces and expands %-tokens in file names.
    path = str(path)
    if '"' in path:
        raise ValueError(f"unsupported character in path: {path!r}")
    return '"' + path.replace("%", "%%") + '"'


def host_key_options(target: SSHTarget, private_dir: Path, pinned: Path | None) -> list[str]:
    if target.known_hosts.strip():
        path, checking = private_dir / "known_hosts", "yes"
        write_private(path, known_hosts_text(target))
    elif pinned is not None:
        path, checking = pinned, "accept-new"
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    else:
        raise ValueError("a pinned known_hosts file is required when the target has no known_hosts entry")
    return [
        "-o", f"StrictHostKeyChecking={checking}",
        "-o", f"UserKnownHostsFile={option_path(path)}",
        "-o", "GlobalKnownHostsFile=/dev/null",
    ]  # fmt: skip


def identity_options(target: SSHTarget, private_dir: Path) -> list[str]:
    if not target.private_key.strip():
        return []
    path = private_dir / "identity"
    write_private(path, unix_lines(target.private_key))  # ssh rejects a key without the final newline
    return ["-i", str(path), "-o", "IdentitiesOnly=yes"]


def connection_options(
    target: SSHTarget | None, private_dir: Path, pinned: Path | None, timeout: float = 30
) -> list[str]:
    """Options that connect to TARGET: no prompts, its host key, its identity, timeouts
    (connecting within TIMEOUT seconds, at most 30; a silent server dropped after a minute).
    Without a TARGET (an ssh:// location no connection matches), the worker's own ssh set-up
    decides host keys and identities."""
    keys = (
        []
        if target is None
        else [*host_key_options(target, private_dir, pinned), *identity_options(target, private_dir)]
    )
    return [
        "-o", "BatchMode=yes",
        *keys,
        "-o", f"ConnectTimeout={max(1, min(30, math.ceil(timeout)))}",
        "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=4",
    ]  # fmt: skip
