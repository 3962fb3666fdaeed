"""A real django-q2 worker (``manage.py qcluster``) on the test database."""

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.harness.processes import terminate

ROOT = Path(__file__).resolve().parent.parent.parent


class QCluster:
    def __init__(self, env: dict, log_path: Path):
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def command(self) -> list[str]:
        return [sys.executable, str(ROOT / "manage.py"), "qcluster"]

    def start(self) -> "QCluster":
        self.process = subprocess.Popen(
            self.command(),
            env=self.env,
            cwd=ROOT,
            stdout=open(self.log_path, "ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def kill_hard(self) -> None:
        """What the OOM killer or `docker kill` does: SIGKILL to every process of the worker."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        # SIGTERM to the cluster's main process, as `docker stop` does: it stops its workers.
        if self.process is not None:
            terminate(self.process, 30)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")
