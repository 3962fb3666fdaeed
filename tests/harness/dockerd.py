"""A private Docker engine for the suite (README.md#quickstart).

vfs storage, no bridge, no iptables; its own socket, pid file, data and exec roots in a
temp dir. Images are made locally with ``docker import`` from Debian's static busybox:
nothing is pulled. Tests reach it only through ``DOCKER_HOST`` set to its socket.
"""

import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from tests.harness.net import wait_for
from tests.harness.processes import terminate

BUSYBOX_IMAGE = "borgui-test/busybox:latest"
BUSYBOX_APPLETS = ["sh", "sleep", "echo", "cat", "ls", "touch", "mkdir", "rm", "date", "env", "true", "false", "grep"]


class DockerDaemon:
    def __init__(self):
        # A short path: unix socket paths are limited to 108 bytes.
        self.root = Path(tempfile.mkdtemp(prefix="bgd-", dir="/tmp"))
        self.socket = self.root / "docker.sock"
        self.host = f"unix://{self.socket}"
        self.process: subprocess.Popen | None = None
        self.log_path = self.root / "dockerd.log"

    @property
    def env(self) -> dict:
        return {**os.environ, "DOCKER_HOST": self.host}

    def docker(self, *args: str, check: bool = True, input: bytes | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["docker", *args], env=self.env, capture_output=True, check=check, input=input, timeout=120
        )

    def start(self) -> None:
        dockerd = shutil.which("dockerd")
        if dockerd is None:
            raise RuntimeError("dockerd not found: run scripts/install-test-deps.sh as root (docker.io)")
        log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [
                dockerd,
                "--host", self.host,
                "--pidfile", str(self.root / "docker.pid"),
                "--data-root", str(self.root / "data"),
                "--exec-root", str(self.root / "exec"),
                "--storage-driver", "vfs",
                "--bridge", "none",
                "--iptables=false",
                "--ip6tables=false",
                "--ip-masq=false",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        log.close()

        def answers():
            if self.process.poll() is not None:
                raise RuntimeError(f"dockerd exited: {self.log_path.read_text()[-2000:]}")
            return self.docker("version", "--format", "{{.Server.Version}}", check=False).returncode == 0

        wait_for(answers, 60, "dockerd to answer")
        self._import_busybox()

    def _import_busybox(self) -> None:
        busybox = Path("/bin/busybox")
        tar_path = self.root / "busybox.tar"
        with tarfile.open(tar_path, "w") as tar:
            tar.add(busybox, arcname="bin/busybox")
            for applet in BUSYBOX_APPLETS:
                info = tarfile.TarInfo(f"bin/{applet}")
                info.type = tarfile.SYMTYPE
                info.linkname = "busybox"
                tar.addfile(info)
            for folder in ("tmp", "data"):
                info = tarfile.TarInfo(folder)
                info.type = tarfile.DIRTYPE
                info.mode = 0o1777
                tar.addfile(info)
        self.docker("import", "--change", "ENV PATH=/bin", str(tar_path), BUSYBOX_IMAGE)

    def run_container(self, name: str, *args: str, command: tuple[str, ...] = ("sleep", "3600")) -> str:
        """Start a busybox container with --init (so it stops at once) and no network."""
        result = self.docker("run", "-d", "--init", "--network", "none", "--name", name, *args, BUSYBOX_IMAGE, *command)
        return result.stdout.decode().strip()

    def state(self, name: str) -> str:
        result = self.docker("inspect", "--format", "{{.State.Status}}", name, check=False)
        return result.stdout.decode().strip() if result.returncode == 0 else "missing"

    def remove_all_containers(self) -> None:
        ids = self.docker("ps", "-aq").stdout.decode().split()
        if ids:
            self.docker("rm", "-f", *ids, check=False)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.remove_all_containers()
            terminate(self.process, 30)
        # vfs layers can be large: leave no trace in /tmp.
        shutil.rmtree(self.root, ignore_errors=True)
