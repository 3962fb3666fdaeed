"""Runs one hook script, locally or on a source host over SSH (docs/hooks.md#running-a-script).

Locally the body is written to a private temp file and executed directly, so its shebang
counts (``/bin/bash`` runs it when there is none). The script leads its own process group;
its pipes are pumped as output arrives, decoded, masked and kept bounded. At the deadline
the group gets SIGTERM, then SIGKILL after a grace period; when the script ends on its own,
whatever it left behind in its group is ended the same way, so no child survives.

Over SSH the OpenSSH client gets a fixed remote command (``exec sh -s``) and everything
else travels on its stdin: ``export NAME='…'`` lines, the body as a quoted here-document
written to a remote ``mktemp`` file, and a small supervisor. Nothing secret is on any
command line. The remote shell is the session leader of its own process group (sshd calls
setsid), so the supervisor ends the whole group with ``kill 0``: at the deadline we close
ssh's stdin, the remote side reads EOF and sends SIGTERM, then SIGKILL after the grace. The
same EOF arrives when sshd sees the connection close (a worker that dies, say), so the
remote script does not outlive its client.
"""

import codecs
import errno
import math
import os
import re
import shlex
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from common import childenv, ssh
from common.processes import Supervisor, spawn
from common.ssh import SSHTarget
from common.text import DEFAULT_HEAD_CHARS, DEFAULT_TAIL_CHARS, BoundedText, SecretMasker, printable

OutputCallback = Callable[[str, str], None]

DEFAULT_KILL_GRACE = 5.0
EXIT_TIMED_OUT = 124
EXIT_COULD_NOT_RUN = 125

_SSH_EXTRA_GRACE = 2.0  # the remote side needs the grace itself plus a round trip
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_REMOTE_STARTED = "::borgui-remote-script-started::\n"


@dataclass
class ScriptResult:
    exit_code: int | None
    signal: int | None
    timed_out: bool
    duration: float
    stdout: str
    stderr: str
    error: str = ""
    stdout_total: int = 0  # characters produced, before bounding
    stderr_total: int = 0

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out and not self.error

    @property
    def cli_exit_code(self) -> int:
        if self.error:
            return EXIT_COULD_NOT_RUN
        if self.timed_out:
            return EXIT_TIMED_OUT
        if self.signal is not None:
            return 128 + self.signal
        return EXIT_COULD_NOT_RUN if self.exit_code is None else self.exit_code


# --- output streams ---------------------------------------------------------------------


class _MarkerFilter:
    """Removes the first occurrence of a marker from a stream and remembers that it came."""

    def __init__(self, marker: str):
        self.marker = marker
        self.seen = False
        self._held = ""

    def feed(self, text: str) -> str:
        if self.seen:
            return text
        text = self._held + text
        index = text.find(self.marker)
        if index >= 0:
            self.seen, self._held = True, ""
            return text[:index] + text[index + len(self.marker) :]
        # The end might be the start of a marker that the next read completes.
        split = max(0, len(text) - (len(self.marker) - 1))
        self._held = text[split:]
        return text[:split]

    def flush(self) -> str:
        rest, self._held = self._held, ""
        return rest


class _OutputStream:
    """One pipe of the child: incremental UTF-8 decoding, masking, bounded storage."""

    def __init__(self, name: str, secrets: Iterable[str], on_output: OutputCallback | None, head: int, tail: int):
        self.name = name
        self.text = BoundedText(head, tail)
        self.marker: _MarkerFilter | None = None
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._masker = SecretMasker(secrets)
        self._on_output = on_output

    def feed(self, data: bytes, final: bool = False) -> None:
        text = self._decoder.decode(data, final)
        if self.marker is not None:
            text = self.marker.feed(text) + (self.marker.flush() if final else "")
        safe = printable(self._masker.feed(text) + (self._masker.flush() if final else ""))
        if safe:
            self.text.append(safe)
            if self._on_output is not None:
                self._on_output(self.name, safe)

    def finish(self) -> str:
        self.feed(b"", final=True)
        return self.text.value()


def _output_streams(secrets, on_output, head, tail) -> tuple[_OutputStream, _OutputStream]:
    secrets = tuple(secrets)
    return (
        _OutputStream("stdout", secrets, on_output, head, tail),
        _OutputStream("stderr", secrets, on_output, head, tail),
    )


def _finish(
    supervision: Supervisor,
    streams: tuple[_OutputStream, _OutputStream],
    started: float,
) -> ScriptResult:
    returncode = supervision.run()
    stdout, stderr = (stream.finish() for stream in streams)
    killed = returncode is not None and returncode < 0
    return ScriptResult(
        exit_code=None if killed else returncode,
        signal=-returncode if killed else None,
        timed_out=supervision.timed_out,
        duration=time.monotonic() - started,
        stdout=stdout,
        stderr=stderr,
        stdout_total=streams[0].text.total,
        stderr_total=streams[1].text.total,
    )


def _not_started(error: str, started: float) -> ScriptResult:
    return ScriptResult(
        exit_code=None,
        signal=None,
        timed_out=False,
        duration=time.monotonic() - started,
        stdout="",
        stderr="",
        error=error,
    )


# --- local execution --------------------------------------------------------------------


def _normalise_body(body: str) -> str:
    # Bodies pasted into a browser textarea arrive with CRLF; "#!/bin/sh\r" names no program.
    return body.replace("\r\n", "\n")


def _has_shebang(body: str) -> bool:
    return body.startswith("#!")


def _interpreter(body: str) -> str:
    words = body[2:].split("\n", 1)[0].split()
    return words[0] if words else ""


def _write_private_script(directory: str, body: str) -> str:
    path = os.path.join(directory, "script")
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o700)
    with os.fdopen(descriptor, "w", encoding="utf-8") as script:
        os.fchmod(script.fileno(), 0o700)  # the umask may have taken bits away
        script.write(body)
    return path


def _start_error(exc: OSError, body: str, cwd: str | None) -> str:
    if cwd is not None and exc.filename == cwd:
        return f"could not run the script: working directory {cwd}: {exc.strerror}"
    if not _has_shebang(body):
        return f"could not run the script with /bin/bash: {exc.strerror}"
    interpreter = _interpreter(body) or "(empty)"
    if exc.errno == errno.ENOENT:
        return f"could not run the script: interpreter {interpreter} from its #! line not found"
    return f"could not run the script: interpreter {interpreter} from its #! line: {exc.strerror}"


def run_script(
    body: str,
    env: Mapping[str, str],
    timeout: float,
    secrets: Iterable[str] = (),
    on_output: OutputCallback | None = None,
    cwd: str | None = None,
    *,
    kill_grace: float = DEFAULT_KILL_GRACE,
    head_chars: int = DEFAULT_HEAD_CHARS,
    tail_chars: int = DEFAULT_TAIL_CHARS,
    on_start: Callable[[int], None] | None = None,
) -> ScriptResult:
    """Run ``body`` with exactly ``env`` as its environment (nothing from os.environ).
    ON_START gets the pid (and process group id) of the script once it runs."""
    body = _normalise_body(body)
    streams = _output_streams(secrets, on_output, head_chars, tail_chars)
    with tempfile.TemporaryDirectory(prefix="borgui-script-") as private_dir:
        path = _write_private_script(private_dir, body)
        argv = [path] if _has_shebang(body) else ["/bin/bash", path]
        started = time.monotonic()
        try:
            process = spawn(argv, env, cwd, stdin=subprocess.DEVNULL)
        except OSError as exc:
            return _not_started(_start_error(exc, body, cwd), started)
        if on_start is not None:
            on_start(process.pid)
        supervision = Supervisor(
            process,
            {process.stdout: streams[0], process.stderr: streams[1]},
            deadline=started + timeout,
            on_deadline=lambda: supervision.signal_group(signal.SIGTERM),
            kill_after=kill_grace,
        )
        return _finish(supervision, streams, started)


# --- execution on the source host over SSH ----------------------------------------------


def _check_remote_env(remote_env: Mapping[str, str]) -> None:
    for name, value in remote_env.items():
        if not _ENV_NAME.fullmatch(name):
            raise ValueError(f"invalid environment variable name for the remote side: {name!r}")
        if "\0" in value:
            raise ValueError(f"environment variable {name} contains a NUL character")


def _heredoc_delimiter(body: str) -> str:
    lines = set(body.split("\n"))
    while True:
        delimiter = f"BORGUI_SCRIPT_END_{os.urandom(8).hex()}"
        if delimiter not in lines:
            return delimiter


def build_remote_payload(body: str, remote_env: Mapping[str, str], kill_grace: float) -> str:
    """The text ssh sends on stdin to ``exec sh -s`` on the source host.

    One ``{ … }`` group, so the remote shell has read all of it before running any of it:
    afterwards nothing more arrives on stdin until EOF, which the supervisor waits for.
    Positional parameters hold the temp file name and exit status, so no shell variable
    of ours can collide with an exported name.
    """
    _check_remote_env(remote_env)
    body = _normalise_body(body)
    if not body.endswith("\n"):
        body += "\n"
    delimiter = _heredoc_delimiter(body)
    grace = max(1, math.ceil(kill_grace))
    interpreter = _interpreter(body) if _has_shebang(body) else "/bin/bash"
    run = '"$1"' if _has_shebang(body) else '/bin/bash "$1"'
    missing = shlex.quote(f"borgui: interpreter {interpreter} not found or not executable on the remote host")
    exports = "".join(f"export {name}={shlex.quote(value)}\n" for name, value in remote_env.items())
    return (
        "{\n"
        f"{exports}"
        # Before anything starts, so it is reported as "could not run" as it is locally.
        f"if [ ! -x {shlex.quote(interpreter)} ]; then echo {missing} >&2; exit 125; fi\n"
        "umask 077\n"
        'set -- "$(mktemp)"\n'
        'if [ -z "$1" ] || [ ! -f "$1" ]; then\n'
        "  echo 'borgui: could not create a temporary file on the remote host' >&2; exit 125\n"
        "fi\n"
        f"cat >\"$1\" <<'{delimiter}'\n{body}{delimiter}\n"
        'chmod 700 "$1"\n'
        "exec 3<&0\n"
        # Supervisor: on stdin EOF (deadline or lost connection) end the whole group.
        f"(trap '' TERM; read -r _ <&3; kill -TERM 0; sleep {grace}; rm -f \"$1\"; kill -KILL 0)"
        " >/dev/null 2>&1 &\n"
        f"printf '%s' {shlex.quote(_REMOTE_STARTED)}\n"
        f"{run} </dev/null 3<&-\n"
        'set -- "$1" "$?"\n'
        'rm -f "$1"\n'
        # Children the script left behind: SIGTERM now, SIGKILL after the grace.
        "trap '' TERM\n"
        "kill -TERM 0 2>/dev/null\n"
        f"(sleep {grace}; kill -KILL 0) >/dev/null 2>&1 3<&- &\n"
        'exit "$2"\n'
        "}\n"
    )


def _ssh_argv(
    target: SSHTarget, private_dir: str, known_hosts_file: str | None, timeout: float, ssh_binary: str
) -> list[str]:
    user = ["-l", target.username] if target.username else []
    pinned = Path(known_hosts_file) if known_hosts_file else None
    return [
        ssh_binary, "-T", "-p", str(target.port), *user,
        *ssh.connection_options(target, Path(private_dir), pinned, timeout),
        "-o", "LogLevel=ERROR",  # keeps "Permanently added …" out of the script's stderr
        "-o", "ControlMaster=no", "-o", "ControlPath=none",
        "-o", "ClearAllForwardings=yes", "-o", "ForwardAgent=no", "-o", "ForwardX11=no",
        "-o", "PermitLocalCommand=no",
        "--", target.host, "exec sh -s",
    ]  # fmt: skip


def _default_ssh_client_env() -> dict[str, str]:
    # SendEnv forwards only what is in ssh's own environment: keep it to what ssh needs.
    env = childenv.only(os.environ, ssh.SSH_CLIENT_VARIABLES)
    env.setdefault("PATH", "/usr/bin:/bin")
    return env


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _ssh_result(result: ScriptResult, started_remotely: bool, target: SSHTarget) -> ScriptResult:
    if result.timed_out:
        # Whatever ssh reported is about its own end, not the script's.
        result.exit_code = result.signal = None
    elif not started_remotely:
        reason = _last_line(result.stderr) or f"ssh exited with status {result.exit_code}"
        result.error = f"could not run the script on {target.host}:{target.port}: {reason}"
        result.exit_code = None
    return result


def run_script_over_ssh(
    body: str,
    remote_env: Mapping[str, str],
    timeout: float,
    target: SSHTarget,
    secrets: Iterable[str] = (),
    on_output: OutputCallback | None = None,
    local_env: Mapping[str, str] | None = None,
    known_hosts_file: str | None = None,
    *,
    kill_grace: float = DEFAULT_KILL_GRACE,
    ssh_binary: str = "ssh",
    head_chars: int = DEFAULT_HEAD_CHARS,
    tail_chars: int = DEFAULT_TAIL_CHARS,
    on_start: Callable[[int], None] | None = None,
) -> ScriptResult:
    """Run ``body`` on ``target``; the remote side gets ``remote_env`` and nothing local.

    ``local_env`` is the ssh client's own environment (default: PATH, HOME, USER, LOGNAME,
    SSH_AUTH_SOCK of this process); it is never sent, except what an ssh_config SendEnv
    names and the server's AcceptEnv allows, which is why the default is this small.
    """
    payload = build_remote_payload(body, remote_env, kill_grace).encode("utf-8")
    streams = _output_streams(secrets, on_output, head_chars, tail_chars)
    streams[0].marker = _MarkerFilter(_REMOTE_STARTED)
    with tempfile.TemporaryDirectory(prefix="borgui-ssh-") as private_dir:
        argv = _ssh_argv(target, private_dir, known_hosts_file, timeout, ssh_binary)
        env = _default_ssh_client_env() if local_env is None else local_env
        started = time.monotonic()
        try:
            process = spawn(argv, env, None, stdin=subprocess.PIPE)
        except OSError as exc:
            return _not_started(f"could not start the ssh client {ssh_binary}: {exc.strerror}", started)
        if on_start is not None:
            on_start(process.pid)
        supervision = Supervisor(
            process,
            {process.stdout: streams[0], process.stderr: streams[1]},
            deadline=started + timeout,
            on_deadline=lambda: supervision.close_stdin(),
            kill_after=kill_grace + _SSH_EXTRA_GRACE,
            stdin_data=payload,
        )
        result = _finish(supervision, streams, started)
    return _ssh_result(result, streams[0].marker.seen, target)
