"""An OpenSSH server on a free loopback port, with throwaway host and user keys.

``SSHServer(private_dir="/srv")`` runs sshd in a mount namespace of its own (``unshare -m``
with private propagation) where an empty tmpfs covers that directory: what a test writes
there over SSH exists only on the "remote" side, as on another machine.
"""

import getpass
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from tests.harness.net import free_port, port_open, wait_for


class SSHServer:
    host = "127.0.0.1"

    def __init__(self, private_dir: str | None = None):
        self.private_dir = private_dir
        self.root = Path(tempfile.mkdtemp(prefix="bgs-"))
        self.port = free_port()
        self.user = getpass.getuser()
        self.host_key = self.root / "host_ed25519"
        self.user_key = self.root / "user_ed25519"
        self.process: subprocess.Popen | None = None

    def _keygen(self, path: Path) -> None:
        if path.exists():  # started again after a stop: the same machine, the same keys
            return
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)

    @property
    def private_key(self) -> str:
        return self.user_key.read_text()

    @property
    def known_hosts(self) -> str:
        """The known-hosts line a user would paste into borgui for this server."""
        key_type, key = self.host_key.with_suffix(".pub").read_text().split()[:2]
        return f"[{self.host}]:{self.port} {key_type} {key}"

    def ssh_command(self, *remote: str) -> list[str]:
        return [
            "ssh", "-i", str(self.user_key), "-p", str(self.port),
            "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR", f"{self.user}@{self.host}", *remote,
        ]  # fmt: skip

    def start(self) -> None:
        sshd = shutil.which("sshd") or "/usr/sbin/sshd"
        if not Path(sshd).exists():
            raise RuntimeError("sshd not found: run scripts/install-test-deps.sh as root (openssh-server)")
        self._keygen(self.host_key)
        self._keygen(self.user_key)
        authorized = self.root / "authorized_keys"
        authorized.write_text(self.user_key.with_suffix(".pub").read_text())
        authorized.chmod(0o600)
        config = self.root / "sshd_config"
        config.write_text(
            f"Port {self.port}\nListenAddress {self.host}\nHostKey {self.host_key}\n"
            f"AuthorizedKeysFile {authorized}\nPidFile {self.root / 'sshd.pid'}\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
            "PermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\n"
            "PrintMotd no\nLogLevel ERROR\nSubsystem sftp internal-sftp\n"
        )
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation directory
        argv = [sshd, "-D", "-e", "-f", str(config)]
        if self.private_dir is not None:
            # The tmpfs is mounted in the new namespace only; sshd then replaces the shell.
            mount = f"mount -t tmpfs borgui-remote {shlex.quote(self.private_dir)} && exec {shlex.join(argv)}"
            argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c", mount]
        self.process = subprocess.Popen(
            argv,
            stdout=subprocess.DEVNULL,
            stderr=open(self.root / "sshd.log", "wb"),
            start_new_session=True,
        )
        wait_for(lambda: port_open(self.port) or self.process.poll() is not None, 20, "sshd to listen")
        if self.process.poll() is not None:
            raise RuntimeError(f"sshd exited: {(self.root / 'sshd.log').read_text()}")

    def remote(self, script: str, input: bytes | None = None, check: bool = True) -> subprocess.CompletedProcess:
        """Run a shell SCRIPT on the server's side (inside its namespace)."""
        result = subprocess.run(self.ssh_command(script), input=input, capture_output=True, timeout=120)
        if check and result.returncode != 0:
            raise RuntimeError(f"remote script failed ({result.returncode}): {result.stderr.decode(errors='replace')}")
        return result

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(10)
        shutil.rmtree(self.root, ignore_errors=True)
