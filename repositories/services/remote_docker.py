"""The source host's Docker, for the built-in container stop of a plan whose sources are
on that host (docs/remote-sources.md): the containers that own the data live where the data is.

What ``DOCKER_HOST=ssh://user@host`` means to the docker CLI — the host's own Docker socket,
reached over SSH — done with OpenSSH's socket forwarding (``ssh -N -L LOCAL:REMOTE``) and
the connection's SSH options (its key, its pinned host key), the same as borg, hooks and
SSHFS get. docker-py's own ``ssh://`` support is not used: its ssh-client mode hands ssh
the whole process environment and takes neither a key nor a known-hosts file, and its
paramiko mode accepts unknown host keys with a warning (docker/transport/sshconn.py).
The forwarding ssh ends with the worker that started it (common/processes.py), so recovery
connects afresh to start the containers again.
"""

import os
import subprocess
import tempfile
import time
from pathlib import Path

from django.conf import settings

from common import processes
from common.docker_client import Docker, DockerError
from repositories import borg
from repositories.models import BackupPlan, SourcesOn, SSHConnection
from repositories.services.remote_sources import describe_host, ssh_client_environment, ssh_failure_reason

CONNECT_SECONDS = 30  # common/ssh.py's ConnectTimeout


def remote_socket() -> str:
    """The Docker socket on source hosts (a rootless Docker has its own)."""
    return settings.BORGUI_SOURCE_DOCKER_SOCKET


def connect_docker(plan: BackupPlan) -> Docker:
    """The Docker that PLAN's container stop talks to: this machine's (DOCKER_HOST), or for
    sources on the source host, that host's. Raises DockerError with one readable line."""
    if not SourcesOn(plan.sources_on).mounted or plan.source_connection is None:
        return Docker.connect()
    forward = SocketForward(plan.source_connection)
    local = forward.open()
    try:
        docker = ForwardedDocker.connect(environ={**os.environ, "DOCKER_HOST": f"unix://{local}"})
    except DockerError as e:
        forward.close()
        raise DockerError(f"Docker on {describe_host(plan.source_connection)}: {e}", e.status) from e
    docker.forward = forward
    return docker


class ForwardedDocker(Docker):
    forward: "SocketForward | None" = None

    def close(self) -> None:
        super().close()
        if self.forward is not None:
            self.forward.close()


class SocketForward:
    """``ssh -N -L`` from a private local socket to the host's Docker socket."""

    def __init__(self, connection: SSHConnection):
        self.connection = connection
        self.process: subprocess.Popen | None = None
        self._tmp = tempfile.TemporaryDirectory(prefix="borgui-docker-")

    def open(self) -> Path:
        workdir = Path(self._tmp.name)
        local = workdir / "docker.sock"
        connection = self.connection
        argv = [
            "ssh", "-N", "-p", str(connection.port), *borg.ssh_command_options(connection, workdir),
            "-o", "ExitOnForwardFailure=yes",
            "-L", f"{local}:{remote_socket()}", "--", f"{connection.username}@{connection.host}",
        ]  # fmt: skip
        try:
            self.process = processes.spawn(argv, ssh_client_environment(), stderr=subprocess.DEVNULL)
        except OSError as e:
            raise DockerError(f"could not start ssh to reach Docker on {describe_host(connection)}: {e}") from e
        deadline = time.monotonic() + CONNECT_SECONDS + 5
        while not local.exists() and self.process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if not local.exists():
            reason = self._ssh_reason()
            self.close()
            raise DockerError(f"could not reach Docker on {describe_host(connection)} over SSH: {reason}")
        return local

    def _ssh_reason(self) -> str:
        log = Path(self._tmp.name) / borg.SSH_LOG
        return ssh_failure_reason(log.read_text(errors="replace") if log.exists() else "", "ssh did not forward")

    def close(self) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(5)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
            self.process.stdout.close()
        self._tmp.cleanup()
