"""Worker "machines" for the scale-out tests (docs/scaling.md).

Each machine is a real ``manage.py qcluster`` in its own network namespace (nothing but its
own loopback: it can reach no address of this host or any other) and its own UTS namespace
(its own hostname, so borgui's host:pid identities and borg's lock ids differ as on two
computers), running as an unprivileged user with its own data directory. The only thing the
machines share is the database, reached through PostgreSQL's unix socket (peer
authentication maps the OS user to the database role of the same name), and the files
under a shared path (the repositories, as on a shared mount).
"""

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

from tests.harness.qcluster import QCluster

# The suite's PostgreSQL role (tests/harness/postgres.py): peer authentication lets the OS
# user of the same name in without a password.
OS_USER = "borgui_test"
_HOSTNAME_THEN_EXEC = 'printf %s "$1" > /proc/sys/kernel/hostname && shift && exec "$@"'


def unavailable() -> str:
    """Why machines cannot be made here ("" when they can)."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    for tool in ("ip", "unshare", "setpriv"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (scripts/install-test-deps.sh installs iproute2 and util-linux)"
    probe = f"borgui-probe-{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"ip netns add failed: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "delete", probe], capture_output=True)
    return ""


def ensure_os_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(OS_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", OS_USER],
            check=True, capture_output=True,
        )  # fmt: skip
        return pwd.getpwnam(OS_USER)


def give_to_os_user(path: Path) -> None:
    user = ensure_os_user()
    for directory, _dirs, files in os.walk(path):
        os.chown(directory, user.pw_uid, user.pw_gid)
        for name in files:
            os.chown(os.path.join(directory, name), user.pw_uid, user.pw_gid)


def socket_database_url(socket_dir: str, name: str) -> str:
    """A DATABASE_URL that reaches the server only through its unix socket in SOCKET_DIR."""
    return f"postgres://{OS_USER}@{quote(socket_dir, safe='')}/{name}"


class Machine(QCluster):
    def __init__(self, name: str, env: dict, data_dir: Path, log_path: Path):
        super().__init__({**env, "BORGUI_DATA_DIR": str(data_dir)}, log_path)
        self.name = name
        self.namespace = f"borgui-{os.getpid()}-{name}"
        self.data_dir = data_dir
        self.net_namespace = ""

    def command(self) -> list[str]:
        # `ip netns exec`, `unshare` (without --fork), sh and setpriv each exec the next: the
        # pid kept is qcluster's own, the leader of its session.
        return [
            "ip", "netns", "exec", self.namespace, "unshare", "--uts", "sh", "-c", _HOSTNAME_THEN_EXEC,
            "sh", self.name,
            "setpriv", f"--reuid={OS_USER}", f"--regid={OS_USER}", "--clear-groups", "--",
            *super().command(),
        ]  # fmt: skip

    def start(self) -> "Machine":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        give_to_os_user(self.data_dir)
        subprocess.run(["ip", "netns", "add", self.namespace], check=True, capture_output=True)
        self.run_inside(["ip", "link", "set", "lo", "up"], check=True)
        self.net_namespace = f"net:[{os.stat(f'/run/netns/{self.namespace}').st_ino}]"
        super().start()
        return self

    def run_inside(self, command: list[str], **kwargs) -> subprocess.CompletedProcess:
        """COMMAND in this machine's network namespace (as root)."""
        inside = ["ip", "netns", "exec", self.namespace, *command]
        return subprocess.run(inside, capture_output=True, text=True, **kwargs)

    def owns(self, pid: int) -> bool:
        """Is process PID on this machine (in its network namespace)?"""
        try:
            return os.readlink(f"/proc/{pid}/ns/net") == self.net_namespace
        except OSError:
            return False

    def kill_hard(self) -> None:
        """The machine loses power: SIGKILL to every process on it at once (borg too, which
        otherwise hears of its worker's death and gives its lock back on the way out)."""
        os.killpg(self.process.pid, signal.SIGKILL)
        for _ in range(100):  # again while a process forked between the listing and the kill
            alive = self.pids()
            if not alive:
                break
            for pid in alive:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.05)
        self.process.wait()

    def pids(self) -> list[int]:
        """The processes running on this machine (the killed ones not yet reaped are not)."""
        return [int(entry) for entry in os.listdir("/proc") if entry.isdigit() and self._running_here(int(entry))]

    def _running_here(self, pid: int) -> bool:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
        except OSError:
            return False
        return state not in ("Z", "X") and self.owns(pid)

    def stop(self) -> None:
        super().stop()
        subprocess.run(["ip", "netns", "delete", self.namespace], capture_output=True)
