"""Child processes: started in their own process group, ending with the worker that started
them, supervised to a deadline with the whole group killed at the end.

borg, hook scripts and apt-get run as children of a worker. If the worker is killed, a borg left
running would keep its repository lock, and a hook would run on beside the recovery that
runs the post steps: PR_SET_PDEATHSIG sends them SIGTERM when their parent dies.

util-linux's ``setpriv --pdeathsig`` (Debian marks util-linux essential) sets that signal
and then executes the program. Setting it from a ``preexec_fn`` instead would make Python
fork the whole worker for every child rather than use vfork: about 3 ms a hook, most of
what a hook costs borgui. Because setpriv, not Python, executes the program, ``spawn``
looks first for what would make that fail (no such program, no interpreter for its
``#!`` line, no working directory) and raises the OSError Python would have raised.
"""

import errno
import os
import selectors
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import IO, Protocol

SETPRIV = shutil.which("setpriv") or "/usr/bin/setpriv"


# --- supervising one child process ------------------------------------------------------

_READ_SIZE = 64 * 1024
_DRAIN_AFTER_KILL = 1.0  # a process that escaped the group (setsid) may hold the pipes forever
_REAP_TIMEOUT = 10.0
_EXIT_POLL_INTERVAL = 0.05  # only when pidfd_open is unavailable


class OutputSink(Protocol):
    """Where the bytes of one of the child's pipes go, as they arrive."""

    def feed(self, data: bytes, final: bool = False) -> None: ...


def stop_group(process: subprocess.Popen, grace: float, kill_grace: float = 5.0) -> None:
    """SIGTERM to the child's whole process group, SIGKILL after GRACE seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, kill_grace)):
        try:
            os.killpg(process.pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def descendants(pid: int) -> list[int]:
    """Every process below PID, parents before their children (from /proc)."""
    found, todo = [], [pid]
    while todo:
        parent = todo.pop(0)
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{parent}/task/{task}/children") as listing:
                    children = [int(child) for child in listing.read().split()]
            except OSError:
                continue
            found += children
            todo += children
    return found


def _open_pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


class Supervisor:
    """Drives a child (leader of its own process group) to its end.

    The child is reaped only at the very end: until then its pid, which is also the group
    id, cannot be reused, so signalling the group never hits a stranger.
    """

    def __init__(
        self,
        process: subprocess.Popen,
        outputs: Mapping[IO[bytes], OutputSink],
        deadline: float | None,  # time.monotonic() at which ON_DEADLINE runs; None: never
        on_deadline: Callable[[], None],
        kill_after: float,
        stdin_data: bytes = b"",
        tick: Callable[[], None] | None = None,
        tick_every: float = 1.0,
    ):
        self.process = process
        self._tick, self._tick_every = tick, tick_every
        self._next_tick = time.monotonic() + tick_every
        self.timed_out = False
        self._deadline = deadline
        self._on_deadline = on_deadline
        self._kill_after = kill_after
        self._kill_at: float | None = None
        self._give_up_at: float | None = None
        self._exited = False
        self._open_pipes = dict(outputs)
        self._selector = selectors.DefaultSelector()
        for pipe, stream in outputs.items():
            self._selector.register(pipe.fileno(), selectors.EVENT_READ, (pipe, stream))
        self._pidfd = _open_pidfd(process.pid)
        if self._pidfd is not None:
            self._selector.register(self._pidfd, selectors.EVENT_READ, "exit")
        self._stdin_data = memoryview(stdin_data)
        if process.stdin is not None and stdin_data:
            os.set_blocking(process.stdin.fileno(), False)
            self._selector.register(process.stdin.fileno(), selectors.EVENT_WRITE, "stdin")

    def run(self) -> int | None:
        """Returns the child's return code (negative: killed by that signal)."""
        try:
            self._pump()
        finally:
            self._close_all()
            self.signal_group(signal.SIGKILL)  # sweep whatever is left of the group
        return self._reap()

    def signal_group(self, signum: int) -> None:
        try:
            os.killpg(self.process.pid, signum)
        except (ProcessLookupError, PermissionError):
            pass

    def close_stdin(self) -> None:
        stdin = self.process.stdin
        if stdin is None or stdin.closed:
            return
        if self._stdin_data:
            self._selector.unregister(stdin.fileno())
            self._stdin_data = memoryview(b"")
        try:
            stdin.close()
        except OSError:
            pass  # the reader is gone: nothing left to tell it

    def _pump(self) -> None:
        while self._open_pipes or not self._exited:
            now = time.monotonic()
            if self._give_up_at is not None and now >= self._give_up_at:
                return
            self._check_clock(now)
            if self._tick is not None and now >= self._next_tick:
                self._tick()
                self._next_tick = time.monotonic() + self._tick_every
            for key, _ in self._selector.select(self._wait_time(time.monotonic())):
                self._dispatch(key.data)
            if self._pidfd is None and not self._exited:
                self._poll_exit()

    def _check_clock(self, now: float) -> None:
        if self._deadline is not None and not self._exited and not self.timed_out and now >= self._deadline:
            self.timed_out = True
            self._on_deadline()
            self._kill_at = now + self._kill_after
        if self._kill_at is not None and now >= self._kill_at:
            self.signal_group(signal.SIGKILL)
            self._kill_at = None
            self._give_up_at = now + _DRAIN_AFTER_KILL

    def _wait_time(self, now: float) -> float | None:
        moments = [moment for moment in (self._kill_at, self._give_up_at) if moment is not None]
        if self._deadline is not None and not self._exited and not self.timed_out:
            moments.append(self._deadline)
        if self._pidfd is None and not self._exited:
            moments.append(now + _EXIT_POLL_INTERVAL)
        if self._tick is not None:
            moments.append(self._next_tick)
        return max(0.0, min(moments) - now) if moments else None

    def _dispatch(self, data) -> None:
        if data == "exit":
            self._on_exit()
        elif data == "stdin":
            self._write_stdin()
        else:
            self._read(*data)

    def _read(self, pipe: IO[bytes], stream: OutputSink) -> None:
        chunk = os.read(pipe.fileno(), _READ_SIZE)
        if chunk:
            stream.feed(chunk)
            return
        self._selector.unregister(pipe.fileno())
        pipe.close()
        del self._open_pipes[pipe]

    def _write_stdin(self) -> None:
        try:
            written = os.write(self.process.stdin.fileno(), self._stdin_data)
        except BlockingIOError:
            return
        except OSError:  # the child stopped reading (e.g. ssh failed to connect)
            self.close_stdin()
            return
        self._stdin_data = self._stdin_data[written:]
        if not self._stdin_data:
            # Stays open: for ssh, its EOF is what tells the remote side to stop.
            self._selector.unregister(self.process.stdin.fileno())

    def _poll_exit(self) -> None:
        flags = os.WEXITED | os.WNOHANG | os.WNOWAIT  # look, but leave the zombie: see class doc
        if os.waitid(os.P_PID, self.process.pid, flags) is not None:
            self._on_exit()

    def _on_exit(self) -> None:
        self._exited = True
        if self._pidfd is not None:
            self._selector.unregister(self._pidfd)
        # Anything still in the group was left behind by the script.
        self.signal_group(signal.SIGTERM)
        self.close_stdin()
        if self._kill_at is None:
            self._kill_at = time.monotonic() + self._kill_after

    def _close_all(self) -> None:
        self.close_stdin()
        for pipe in self._open_pipes:
            pipe.close()
        self._open_pipes.clear()
        if self._pidfd is not None:
            os.close(self._pidfd)
        self._selector.close()

    def _reap(self) -> int | None:
        try:
            return self.process.wait(timeout=_REAP_TIMEOUT)
        except subprocess.TimeoutExpired:  # stuck in the kernel (D state) even after SIGKILL
            return None


def _error(number: int, filename: str) -> OSError:
    return OSError(number, os.strerror(number), filename)


def _program_path(program: str, env: Mapping[str, str], cwd: str | None) -> str | None:
    if "/" in program:
        return os.path.join(cwd or "", program)
    return shutil.which(program, path=env.get("PATH", os.defpath))


def _shebang_interpreter(path: str) -> str | None:
    try:
        with open(path, "rb") as program:
            first_line = program.readline(256)
    except OSError:
        return None
    words = first_line[2:].split() if first_line.startswith(b"#!") else []
    return os.fsdecode(words[0]) if words else None


def exec_problem(argv: list[str], env: Mapping[str, str], cwd: str | None = None) -> OSError | None:
    """The error executing ARGV would raise, or None: no working directory, no program, a
    program that cannot be executed, or an interpreter its ``#!`` line names that is not there."""
    if cwd is not None and not os.path.isdir(cwd):
        return _error(errno.ENOENT, cwd)
    path = _program_path(argv[0], env, cwd)
    if path is None or not os.path.exists(path):
        return _error(errno.ENOENT, argv[0])
    if os.path.isdir(path) or not os.access(path, os.X_OK):
        return _error(errno.EACCES, argv[0])
    interpreter = _shebang_interpreter(path)
    if interpreter is not None and not (os.path.isfile(interpreter) and os.access(interpreter, os.X_OK)):
        return _error(errno.ENOENT, argv[0])  # what the kernel says: ENOENT for the script
    return None


def spawn(
    argv: list[str], env: Mapping[str, str], cwd: str | None = None, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE
) -> subprocess.Popen:
    """Start ARGV as the leader of its own process group, with a pipe for its output, ending
    with the thread that started it (PR_SET_PDEATHSIG, set by setpriv)."""
    if problem := exec_problem(argv, env, cwd):
        raise problem
    return subprocess.Popen(
        [SETPRIV, "--pdeathsig", "TERM", "--", *argv],
        env=dict(env),
        cwd=cwd,
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=stderr,
        start_new_session=True,
    )


# --- the process group of a child whose worker died ---------------------------------------
#
# A worker killed outright takes its hooks with it (PR_SET_PDEATHSIG), but not what a hook
# left running in the background (`sleep 300 &`, a daemon started without exec): those
# stay in the hook's process group. The hook's run record keeps the group id and the start
# time of its leader (/proc/PID/stat field 22), so recovery can end that group and never
# hit a process that merely got the same id later (docs/stopping.md).


@dataclass(frozen=True)
class GroupMark:
    """A process group as recorded when its leader started: enough to find it again."""

    pgid: int
    started: int  # the leader's start time, clock ticks after boot
    machine: str  # the host and its boot: a group id means nothing elsewhere


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (field 3 first)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            raw = stat.read()
    except OSError:
        return None
    return raw[raw.rindex(b")") + 2 :].decode("ascii").split()


def start_time(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else None


def this_machine() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as boot:
            boot_id = boot.read().strip()
    except OSError:
        boot_id = ""
    return f"{socket.gethostname()} {boot_id}"[:100]


def mark_group(pid: int) -> GroupMark | None:
    """The mark of the group PID leads (a child started by ``spawn``), or None if it is gone."""
    started = start_time(pid)
    return None if started is None else GroupMark(pid, started, this_machine())


def _members(pgid: int, started: int) -> list[int]:
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            # field 5 is the group, 22 the start time: a member started after its leader.
            if fields and int(fields[2]) == pgid and int(fields[19]) >= started:
                members.append(int(entry))
    return members


def _kill_if_member(pid: int, pgid: int, started: int) -> bool:
    try:
        pidfd = os.pidfd_open(pid)
    except OSError:
        return False
    try:
        fields = _stat_fields(pid)  # again, through the pidfd's process: the pid cannot move now
        if not fields or int(fields[2]) != pgid or int(fields[19]) < started:
            return False
        signal.pidfd_send_signal(pidfd, signal.SIGKILL)
        return True
    except OSError:
        return False
    finally:
        os.close(pidfd)


def kill_left_group(mark: GroupMark) -> int:
    """SIGKILL what is left of the group MARK records; the number of processes killed.

    Nothing when the mark is another machine's, or when a process now has the group's id
    but not its leader's start time: then the id was reused (the kernel never hands out an
    id a living group still has), and the group is someone else's.
    """
    if mark.machine != this_machine():
        return 0
    leader_started = start_time(mark.pgid)
    if leader_started is not None and leader_started != mark.started:
        return 0
    return sum(_kill_if_member(pid, mark.pgid, mark.started) for pid in _members(mark.pgid, mark.started))
