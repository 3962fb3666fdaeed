"""The one place that runs borg.

Command lines are argument lists (never a shell) with ``--`` before user operands where
borg accepts it; secrets travel in the environment (BORG_PASSPHRASE) or in private temp
files named there (BORG_KEY_FILE, the SSH key in BORG_RSH), never on a command line.
borg's keys, cache and security data live under the data directory. borg never outlives
the process that started it (PR_SET_PDEATHSIG), so a killed worker leaves no borg writing
and holding the repository lock.
"""

import json
import os
import shlex
import signal
import subprocess
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings

from common import childenv, processes, ssh
from common.text import BoundedText
from repositories.models import Encryption, Repository, SSHConnection
from repositories.validators import repository_location_problem


class BorgError(Exception):
    """borg could not do what was asked; the message is one line for the user."""


@dataclass
class BorgResult:
    exit_code: int | None  # None: killed by a signal
    stdout: str = ""
    # borg may log a line per file: the whole log is kept bounded (head and tail), and the
    # last lines separately for the error message.
    log: BoundedText = field(default_factory=lambda: BoundedText(head=32 * 1024, tail=96 * 1024))
    recent: deque = field(default_factory=lambda: deque(maxlen=200))
    msgids: set[str] = field(default_factory=set)
    # What ssh itself reported (its -E log file): kept apart from borg's output, where
    # borg may exit on "connection closed" before it has relayed ssh's reason.
    ssh_messages: list[str] = field(default_factory=list)
    # borg's WARNING lines (a source that vanished, a file it could not read): exit 1's reason.
    warnings: list[str] = field(default_factory=list)

    def add_line(self, line: str) -> None:
        self.log.append(line + "\n")
        self.recent.append(line)

    @property
    def log_lines(self) -> list[str]:
        """The last lines borg logged (at most 200)."""
        return list(self.recent)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def json(self) -> dict:
        try:
            return json.loads(self.stdout)
        except ValueError:
            return {}

    def warning_line(self, limit: int = 500) -> str:
        """borg's warnings as one line, the first ones first, cut to LIMIT characters."""
        text = "; ".join(_one_line(line) for line in self.warnings)
        return text if len(text) <= limit else text[: limit - 1] + "…"

    def error_line(self) -> str:
        lines = [line.strip() for line in self.recent if line.strip()]
        if not lines:
            return f"borg exited with {self.exit_code}"
        line = _one_line(lines[-1])
        if self.msgids & {"ConnectionClosed", "ConnectionClosedWithHint"}:
            # "Connection closed by remote host": the reason is what the remote side or ssh said.
            remote = next((earlier for earlier in reversed(lines[:-1]) if "Remote: " in earlier), "")
            reason = remote.split("Remote: ", 1)[1] if remote else ""
            if not reason:
                reason = next((m for m in reversed(self.ssh_messages) if "Permanently added" not in m), "")
            if reason:
                line = f"{line} (ssh: {reason})"
        return line


def _one_line(message: str) -> str:
    """A log message as one line: borg's crash report is cut down to its exception."""
    lines = message.splitlines()
    if len(lines) <= 1:
        return message
    if "Traceback (most recent call last):" in lines[0]:
        exception = next((line for line in lines[1:] if line.strip() and not line[0].isspace()), "")
        return f"{lines[0].split('Traceback', 1)[0]}borg crashed: {exception or 'see the log'}"
    return lines[0]


def borg_base_dir() -> Path:
    return Path(settings.DATA_DIR) / "borg"


def _base_environment() -> dict[str, str]:
    # borgui sets every BORG_* variable borg reads itself.
    env = childenv.inherited(os.environ, also_strip=("BORG_",))
    base = borg_base_dir()
    base.mkdir(parents=True, exist_ok=True, mode=0o700)
    env.update(
        BORG_BASE_DIR=str(base),
        BORG_RELOCATED_REPO_ACCESS_IS_OK="yes",
        BORG_DISPLAY_PASSPHRASE="no",
        LANG=env.get("LANG", "C.UTF-8"),
    )
    return env


def connection_for_location(location: str) -> SSHConnection | None:
    """The SSH connection whose host, port and user match an ssh:// location, if any."""
    if not location.startswith("ssh://"):
        return None
    parts = urlsplit(location)
    matches = SSHConnection.objects.filter(host=parts.hostname or "", port=parts.port or 22)
    if parts.username:
        matches = matches.filter(username=parts.username)
    return matches.order_by("id").first()


SSH_LOG = "ssh.log"


def ssh_target(connection: SSHConnection) -> ssh.SSHTarget:
    return ssh.SSHTarget(
        host=connection.host,
        port=connection.port,
        username=connection.username,
        private_key=connection.private_key,
        known_hosts=connection.known_hosts,
    )


def ssh_command_options(connection: SSHConnection | None, workdir: Path) -> list[str]:
    """OpenSSH client options for a connection (see common.ssh), and ssh's own log file."""
    target = ssh_target(connection) if connection is not None else None
    pinned = ssh.pinned_known_hosts(connection.pk) if connection is not None else None
    return [*ssh.connection_options(target, workdir, pinned), "-E", str(workdir / SSH_LOG)]


@contextmanager
def borg_environment(repository: Repository, new_key: bool = False):
    """The environment for a borg call on this repository, with its private temp files.

    new_key: `borg init` of a keyfile mode writes its new key to BORG_KEY_FILE.
    """
    with tempfile.TemporaryDirectory(prefix="borgui-") as tmp:
        workdir = Path(tmp)
        env = _base_environment()
        if repository.encryption != Encryption.NONE:
            env["BORG_PASSPHRASE"] = repository.passphrase
        else:
            env["BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK"] = "yes"
        if Encryption(repository.encryption).uses_keyfile and (repository.exported_key or new_key):
            key_file = workdir / "borg_key"
            if repository.exported_key:
                ssh.write_private(key_file, repository.exported_key)
            # borg init writes the new key here too, so it never lands in a shared keys dir.
            # Without a stored key borg says "No key file for repository …" (a BORG_KEY_FILE
            # naming a missing file makes borg 1.2 crash with a traceback instead).
            env["BORG_KEY_FILE"] = str(key_file)
        if repository.is_remote:
            options = ssh_command_options(connection_for_location(repository.location), workdir)
            env["BORG_RSH"] = shlex.join(["ssh", *options])
        yield env, workdir


ProgressCallback = Callable[[dict], None]


class _Collected:
    """A pipe kept whole (borg's --json answer on stdout)."""

    def __init__(self):
        self._chunks: list[bytes] = []

    def feed(self, data: bytes, final: bool = False) -> None:
        self._chunks.append(data)

    def text(self) -> str:
        return b"".join(self._chunks).decode("utf-8", errors="replace")


class _Lines:
    """A pipe split into lines (borg's JSON log on stderr), each passed to ON_LINE."""

    def __init__(self, on_line: Callable[[str], None]):
        self._on_line = on_line
        self._held = b""

    def feed(self, data: bytes, final: bool = False) -> None:
        *lines, self._held = (self._held + data).split(b"\n")
        if final and self._held:
            lines, self._held = [*lines, self._held], b""
        for line in lines:
            self._on_line(line.decode("utf-8", errors="replace"))


MAX_WARNINGS = 20


class BorgProcess:
    """One borg invocation: JSON log lines parsed as they come, cancellable from another thread."""

    def __init__(
        self, argv: list[str], env: dict[str, str], on_event: ProgressCallback | None = None, cwd: str | None = None
    ):
        self.argv = argv
        self.env = env
        self.on_event = on_event
        self.cwd = cwd
        self.process: subprocess.Popen | None = None
        self.result = BorgResult(exit_code=None)

    def run(self) -> BorgResult:
        self.process = processes.spawn(self.argv, self.env, cwd=self.cwd)
        stdout, stderr = _Collected(), _Lines(self._handle_line)
        # No deadline: a backup takes as long as it takes; a cancel comes through interrupt().
        supervisor = processes.Supervisor(
            self.process, {self.process.stdout: stdout, self.process.stderr: stderr}, None, lambda: None, 5.0
        )
        code = supervisor.run()
        stderr.feed(b"", final=True)
        self.result.exit_code = code if code is not None and code >= 0 else None
        self.result.stdout = stdout.text()
        return self.result

    def _handle_line(self, line: str) -> None:
        try:
            event = json.loads(line) if line.startswith("{") else None
        except ValueError:
            event = None
        if not isinstance(event, dict):
            self.result.add_line(line)
            return
        kind = event.get("type")
        if kind == "log_message":
            self.result.add_line(f"{event.get('levelname', 'INFO')}: {event.get('message', '')}")
            if event.get("levelname") == "WARNING" and len(self.result.warnings) < MAX_WARNINGS:
                self.result.warnings.append(event.get("message", ""))
            if event.get("msgid"):
                self.result.msgids.add(event["msgid"])
        elif kind == "file_status":
            self.result.add_line(f"{event.get('status')} {event.get('path')}")
        if self.on_event is not None:
            self.on_event(event)

    def interrupt(self, grace: float = 30.0) -> None:
        """Stop borg as Ctrl-C would (it cleans up and releases its lock), then kill."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return
            time.sleep(0.1)
        self.process.kill()


# borg waits this long for its own lock (and its local cache lock, which every command
# takes briefly) instead of failing at once; borgui's leases keep its own work apart.
LOCK_WAIT_SECONDS = 30


def borg_argv(*args: str) -> list[str]:
    return [settings.BORG_BINARY, "--log-json", "--lock-wait", str(LOCK_WAIT_SECONDS), *args]


def refused_location(repository: Repository) -> BorgResult | None:
    """A failed result, without running borg, for a stored location the rules refuse.

    Rows saved before the location rules were tightened may hold a host such as
    "-oProxyCommand=…", which ssh would run (docs/security.md).
    """
    problem = repository_location_problem(repository.location)
    if problem is None:
        return None
    result = BorgResult(exit_code=2)
    result.add_line(f"borg was not run: the stored location is refused. {problem} Correct it on the repository's page.")
    return result


def run(
    repository: Repository, args: list[str], on_event: ProgressCallback | None = None, on_start=None, cwd=None
) -> BorgResult:
    if refused := refused_location(repository):
        return refused
    with borg_environment(repository) as (env, workdir):
        process = BorgProcess(borg_argv(*args), env, on_event, cwd=cwd)
        if on_start is not None:
            on_start(process)
        return _with_ssh_messages(process.run(), workdir)


def _with_ssh_messages(result: BorgResult, workdir: Path) -> BorgResult:
    """Add what ssh logged to its -E file to the result (and to the log users read)."""
    log = workdir / SSH_LOG
    if log.exists():
        for line in log.read_text(errors="replace").splitlines():
            if line.strip():
                result.ssh_messages.append(line.strip())
                result.log.append(f"ssh: {line.strip()}\n")
    return result


# --- operations ---------------------------------------------------------------------------


def init(repository: Repository) -> BorgResult:
    """borg init; for keyfile modes the new key is exported and kept (encrypted) by borgui."""
    if refused := refused_location(repository):
        return refused
    with borg_environment(repository, new_key=True) as (env, workdir):
        args = ["init", f"--encryption={repository.encryption}", "--", repository.location]
        result = _with_ssh_messages(BorgProcess(borg_argv(*args), env).run(), workdir)
        if result.ok and Encryption(repository.encryption).uses_keyfile:
            repository.exported_key = Path(env["BORG_KEY_FILE"]).read_text()
            repository.save(update_fields=["exported_key"])
        if result.ok or "Repository.AlreadyExists" in result.msgids:
            mark_initialised(repository)
        return result


def mark_initialised(repository: Repository) -> None:
    if not repository.initialised:
        repository.initialised = True
        Repository.objects.filter(pk=repository.pk).update(initialised=True)


def change_passphrase(repository: Repository, new_passphrase: str) -> BorgResult:
    """borg key change-passphrase; on success borgui stores the new passphrase and, for the
    keyfile modes, the key file borg re-encrypted with it (the key itself stays the same)."""
    if refused := refused_location(repository):
        return refused
    with borg_environment(repository) as (env, workdir):
        env["BORG_NEW_PASSPHRASE"] = new_passphrase
        args = ["key", "change-passphrase", "--", repository.location]
        result = _with_ssh_messages(BorgProcess(borg_argv(*args), env).run(), workdir)
        if result.ok:
            repository.passphrase = new_passphrase
            if Encryption(repository.encryption).uses_keyfile:
                repository.exported_key = Path(env["BORG_KEY_FILE"]).read_text()
            repository.save(update_fields=["passphrase", "exported_key"])
        return result


def info(repository: Repository) -> BorgResult:
    return run(repository, ["info", "--json", "--", repository.location])


def list_archives(repository: Repository) -> BorgResult:
    return run(repository, ["list", "--json", "--", repository.location])


def check(repository: Repository) -> BorgResult:
    return run(repository, ["check", "--", repository.location])


def break_lock(repository: Repository) -> BorgResult:
    return run(repository, ["break-lock", "--", repository.location])


def command_line(args: list[str]) -> str:
    """How ``run(repository, args)`` starts borg, as one line a person can read (and paste):
    secrets are in the environment, never here."""
    return shlex.join(borg_argv(*args))


def plan_create_args(plan, repository: Repository, archive: str, sources: list[str], options=()) -> list[str]:
    """The `borg create` of PLAN's backup to REPOSITORY: the one builder behind a run and its preview."""
    return create_args(repository, archive, sources, list(plan.excludes or []), plan.compression, options)


def create_args(
    repository: Repository, archive: str, sources: list[str], excludes: list[str], compression: str, options=()
):
    args = ["create", "--json", "--progress", f"--compression={compression}", *options]
    for pattern in excludes:
        args.append(f"--exclude={pattern}")
    return [*args, "--", f"{repository.location}::{archive}", *sources]


def prune_args(repository: Repository, prefix: str, retention_options: list[str]) -> list[str]:
    return ["prune", "--list", f"--glob-archives={prefix}*", *retention_options, "--", repository.location]


# --- archives (docs/archives.md) ----------------------------------------------------------


def archive_ref(repository: Repository, archive: str) -> str:
    """Always REPO::NAME: `borg delete REPO` without a name deletes the whole repository."""
    if not archive:
        raise BorgError("an archive name is required")
    return f"{repository.location}::{archive}"


def path_pattern(path: str) -> str:
    """A path operand as a path-prefix pattern, so a name like `fm:x` or `re:y` is a name."""
    return f"pp:{path}"


def list_all_archives(repository: Repository) -> BorgResult:
    """Every archive, the `.checkpoint` ones of interrupted backups included (borg hides them)."""
    return run(repository, ["list", "--json", "--consider-checkpoints", "--", repository.location])


def archive_info(repository: Repository, archive: str) -> BorgResult:
    return run(repository, ["info", "--json", "--", archive_ref(repository, archive)])


def delete_archives(repository: Repository, names: list[str]) -> BorgResult:
    if not names:
        raise BorgError("no archive named")
    first, *rest = names
    return run(repository, ["delete", "--", archive_ref(repository, first), *rest])


def extract_args(archive_ref_: str, paths: list[str], strip_components: int, dry_run: bool, excludes: list[str]):
    args = ["extract", "--progress"]
    if dry_run:
        args.append("--dry-run")
    if strip_components:
        args.append(f"--strip-components={strip_components}")
    args += [f"--exclude={path_pattern(path)}" for path in excludes]
    return [*args, "--", archive_ref_, *(path_pattern(path) for path in paths)]


class BorgStream:
    """A borg call whose stdout is read while it runs (item lines, file bytes, a tar stream).

    Used as a context manager; ``stdout`` is the raw pipe. Leaving the block early (the
    reader stopped, the browser went away) stops borg as Ctrl-C would, then kills it.
    ``result`` has the exit code and log once the block is left.
    """

    def __init__(self, repository: Repository, args: list[str], extra_env: dict[str, str] | None = None):
        self.repository = repository
        self.args = args
        self.extra_env = extra_env or {}  # e.g. TZ=UTC, so borg's times have a known zone
        self.result = BorgResult(exit_code=None)
        self.process: subprocess.Popen | None = None

    def __enter__(self):
        if refused := refused_location(self.repository):
            raise BorgError(refused.error_line())
        self._environment = borg_environment(self.repository)
        env, self._workdir = self._environment.__enter__()
        env.update(self.extra_env)
        parser = BorgProcess([], env)
        parser.result = self.result
        try:
            self.process = processes.spawn(borg_argv(*self.args), env)
        except BaseException:
            self._environment.__exit__(None, None, None)
            raise

        def read_log():
            for raw in self.process.stderr:
                parser._handle_line(raw.decode("utf-8", errors="replace").rstrip("\n"))

        self._log_reader = threading.Thread(target=read_log, daemon=True)
        self._log_reader.start()
        return self

    @property
    def stdout(self):
        return self.process.stdout

    def lines(self):
        """stdout as text lines (json-lines output), one at a time."""
        for raw in self.process.stdout:
            yield raw.decode("utf-8", errors="surrogateescape")

    def __exit__(self, exc_type, exc, tb):
        try:
            if self.process.poll() is None and exc_type is not None:
                self.stop()
            self.process.stdout.close()
            code = self.process.wait()
            self._log_reader.join(timeout=10)
            self.result.exit_code = code if code >= 0 else None
            _with_ssh_messages(self.result, self._workdir)
        finally:
            self._environment.__exit__(None, None, None)
        return False

    def wait(self) -> int:
        """borg's exit code once it has ended, with its log read to the end."""
        code = self.process.wait()
        self._log_reader.join(timeout=10)
        return code

    def stop(self, grace: float = 5.0) -> None:
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(grace)
        except subprocess.TimeoutExpired:
            self.process.kill()


def stream_items(repository: Repository, archive: str) -> BorgStream:
    return BorgStream(repository, ["list", "--json-lines", "--", archive_ref(repository, archive)])


def stream_file(repository: Repository, archive: str, path: str) -> BorgStream:
    return BorgStream(repository, ["extract", "--stdout", "--", archive_ref(repository, archive), path_pattern(path)])


def stream_tar(repository: Repository, archive: str, paths: list[str]) -> BorgStream:
    args = ["export-tar", "--tar-filter=gzip", "--", archive_ref(repository, archive), "-"]
    return BorgStream(repository, [*args, *(path_pattern(path) for path in paths)])


def stream_diff(repository: Repository, old: str, new: str, paths: list[str]) -> BorgStream:
    args = ["diff", "--json-lines", "--", archive_ref(repository, old), new]
    return BorgStream(repository, [*args, *(path_pattern(path) for path in paths)])
