"""Restore to a source host (docs/remote-sources.md, "Restoring to the source host").

``borg export-tar REPO::ARCHIVE - PATH…`` runs on the worker and its stream goes into
``tar -x`` run on the host over SSH, with the connection's SSH options. Nothing is mounted
read-write: through such a mount, absolute symlinks in the target would resolve on the
worker's own filesystem. The target rules of docs/archives.md are checked on the host
(its path with symlinks resolved there, empty or new, the symlinks already under it), and
the data-directory and restore-root rules against that resolved path.

ssh hands the remote side one command line, which its shell splits: every word of it is
quoted with ``shlex.quote`` (``shlex.join``), as hook parameters are (docs/hooks.md), and
the scripts below are fixed text that take the target only as ``$1``.
"""

import shlex
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from archives.services.targets import RestoreRefused, check_resolved
from repositories import borg
from repositories.models import SSHConnection
from repositories.services.remote_sources import describe_host, ssh_client_environment, ssh_failure_reason

SSH_SECONDS = 60
CHUNK = 1024 * 1024

# Prints the target with symlinks resolved on the host, then what is there.
_INSPECT = r"""
r=$(realpath -m -- "$1" 2>/dev/null || readlink -f -- "$1") || exit 3
printf '%s\n' "$r"
if [ -d "$r" ]; then
  if [ -n "$(ls -A -- "$r")" ]; then echo nonempty; else echo empty; fi
elif [ -e "$r" ] || [ -L "$r" ]; then echo notdir
else echo missing
fi
"""
_SYMLINKS = r'cd -- "$1" && find . -mindepth 1 -type l -print0'
_EXTRACT = r'mkdir -p -- "$1" && exec tar -x -p -f - -C "$1"'


@dataclass
class RemoteTarget:
    connection: SSHConnection
    path: str  # resolved on the host

    def describe(self) -> str:
        return f"{self.path} on {describe_host(self.connection)}"


def ssh_argv(connection: SSHConnection, workdir: Path, script: str, *args: str) -> list[str]:
    remote = shlex.join(["sh", "-c", script, "borgui", *args])  # the one remote command line: quoted
    return [
        "ssh", "-p", str(connection.port), *borg.ssh_command_options(connection, workdir),
        "-o", f"ConnectTimeout={SSH_SECONDS}", "--", f"{connection.username}@{connection.host}", remote,
    ]  # fmt: skip


def _run(connection: SSHConnection, script: str, *args: str) -> bytes:
    with tempfile.TemporaryDirectory(prefix="borgui-ssh-") as tmp:
        argv = ssh_argv(connection, Path(tmp), script, *args)
        try:
            done = subprocess.run(
                argv, env=ssh_client_environment(), capture_output=True, timeout=SSH_SECONDS * 2, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            raise RestoreRefused(f"could not reach {describe_host(connection)}: {e}") from e
        if done.returncode != 0:
            raise RestoreRefused(f"on {describe_host(connection)}: {ssh_reason(Path(tmp), done.stderr)}")
        return done.stdout


def ssh_reason(workdir: Path, stderr: bytes) -> str:
    log = workdir / borg.SSH_LOG
    return ssh_failure_reason(
        (log.read_text(errors="replace") if log.exists() else "") + stderr.decode(errors="replace")
    )


def check_target(
    connection: SSHConnection, target: str, overwrite: bool, any_place: bool, confirmed_root: bool = False
) -> RemoteTarget:
    """The target on CONNECTION's host with symlinks resolved there, or RestoreRefused."""
    if not target or not target.startswith("/"):
        raise RestoreRefused(f"the target must be an absolute path, not {target!r}")
    resolved, state = _run(connection, _INSPECT, target).decode(errors="surrogateescape").rstrip("\n").rsplit("\n", 1)
    where = f"{target} on {connection.name}"
    check_resolved(PurePosixPath(resolved), where, overwrite, any_place, confirmed_root)
    if state == "notdir":
        raise RestoreRefused(f"{where} exists and is not a directory")
    if state == "nonempty" and not overwrite:
        raise RestoreRefused(f"{where} is not empty: choose an empty or new directory, or overwrite")
    return RemoteTarget(connection, resolved)


def symlinks_under(target: RemoteTarget) -> set[str]:
    """Relative paths of the symlinks already under the target on the host."""
    try:
        listed = _run(target.connection, _SYMLINKS, target.path)
    except RestoreRefused:
        return set()  # no such directory yet: nothing under it
    return {name.decode(errors="surrogateescape").removeprefix("./") for name in listed.split(b"\0") if name}


def export_args(job, skipped: list[str]) -> list[str]:
    args = ["export-tar"]
    if job.strip_components:
        args.append(f"--strip-components={job.strip_components}")
    args += [f"--exclude={borg.path_pattern(path)}" for path in skipped]
    ref = borg.archive_ref(job.repository, job.archive_name)
    return [*args, "--", ref, "-", *(borg.path_pattern(path) for path in job.paths)]


class StreamResult:
    def __init__(self, borg_result: borg.BorgResult, tar_exit: int | None, tar_error: str):
        self.borg_result, self.tar_exit, self.tar_error = borg_result, tar_exit, tar_error

    @property
    def exit_code(self) -> int | None:
        """borg's code, or 2 when tar on the host failed."""
        if self.tar_exit not in (0, None):
            return 2
        return self.borg_result.exit_code

    def error_line(self) -> str:
        if self.tar_exit not in (0, None):
            return f"tar on the host failed: {self.tar_error or f'exit {self.tar_exit}'}"
        return self.borg_result.error_line()


def stream(job, target: RemoteTarget, skipped: list[str], monitor) -> StreamResult:
    """borg export-tar into tar -x on the host; bytes counted as they pass, cancellable."""
    with tempfile.TemporaryDirectory(prefix="borgui-ssh-") as tmp:
        errors = Path(tmp) / "tar.err"
        with open(errors, "wb") as stderr:  # a file: a chatty tar never blocks on a full pipe
            tar = subprocess.Popen(
                ssh_argv(target.connection, Path(tmp), _EXTRACT, target.path), env=ssh_client_environment(),
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=stderr,
            )  # fmt: skip
        stopped = False
        with borg.BorgStream(job.repository, export_args(job, skipped)) as export:
            monitor.on_cancel = export.stop
            try:
                while chunk := export.stdout.read(CHUNK):
                    tar.stdin.write(chunk)
                    monitor.bytes_done = min(monitor.bytes_done + len(chunk), job.bytes_total or 1 << 62)
            except BrokenPipeError:
                stopped = True  # tar ended early: its reason is in its stderr
                export.stop()
            finally:
                try:
                    tar.stdin.close()
                except BrokenPipeError:
                    pass
            export.wait()
        code = tar.wait()
        reason = ssh_reason(Path(tmp), errors.read_bytes()) if code else ""
    return StreamResult(export.result, code if (code or stopped) else 0, reason)
