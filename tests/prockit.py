"""What borgui's children really got: their /proc/PID/cmdline and /proc/PID/environ, read
while they run (tests/test_child_environment.py, tests/test_secret_scans.py)."""

import os
import threading
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Child:
    kind: str  # borg, hook, sshfs, ssh, apt-get
    pid: int
    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...]

    @property
    def environ(self) -> dict[str, str]:
        return dict(self.env)


def kind_of(argv: list[str]) -> str | None:
    names = [os.path.basename(word) for word in argv[:2]]
    if any("borgui-script-" in word for word in argv[:2]):
        return "hook"
    for kind in ("borg", "sshfs", "ssh", "apt-get"):
        if names[0] == kind or (len(names) > 1 and names[0].startswith(("python", "sh", "bash")) and names[1] == kind):
            return kind
    return None


def _read_nul_list(path: str) -> list[str]:
    return [part.decode(errors="replace") for part in Path(path).read_bytes().split(b"\0") if part]


def _ancestors(pid: int) -> set[int]:
    found = set()
    while pid > 1 and pid not in found:
        found.add(pid)
        try:
            stat = Path(f"/proc/{pid}/stat").read_bytes()
        except OSError:
            break
        pid = int(stat[stat.rindex(b")") + 2 :].split()[1])
    return found


class ProcSpy:
    """Polls /proc in a thread; keeps each child of this test (a descendant of this process
    or of a child already kept, or a process whose command line names one of MARKERS: sshfs
    leaves its parent) once per distinct command line."""

    def __init__(self, markers: list[str], interval: float = 0.01):
        self.markers, self.interval = markers, interval
        self.children: list[Child] = []
        self._seen: set[tuple[int, tuple[str, ...]]] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._me = os.getpid()
        self._ours = {self._me}

    def __enter__(self) -> "ProcSpy":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def of_kind(self, kind: str) -> list[Child]:
        return [child for child in self.children if child.kind == kind]

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            for entry in os.listdir("/proc"):
                if entry.isdigit() and int(entry) != self._me:
                    self._look(int(entry))

    def _look(self, pid: int) -> None:
        try:
            argv = tuple(_read_nul_list(f"/proc/{pid}/cmdline"))
            kind = kind_of(list(argv)) if argv else None
            if kind is None or (pid, argv) in self._seen:
                return
            if not self._ours & _ancestors(pid) and not any(marker in word for word in argv for marker in self.markers):
                return
            env = _read_nul_list(f"/proc/{pid}/environ")
        except OSError:  # gone meanwhile
            return
        self._seen.add((pid, argv))
        self._ours.add(pid)
        pairs = tuple(tuple(item.split("=", 1)) for item in env if "=" in item)
        self.children.append(Child(kind, pid, argv, pairs))
