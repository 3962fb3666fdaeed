"""`make run` checks the Debian packages a backup needs before it serves anything.

Run as an unprivileged user (setpriv), so the check cannot install, and with a package name
that no Debian archive has, so it is surely missing; nothing here installs or removes.
"""

import os
import shutil
import subprocess
import tempfile

import pytest

from tests.conftest import ROOT

NOT_A_PACKAGE = "borgui-test-no-such-package"
UNPRIVILEGED = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "HOME": "/tmp", "LANG": "C.UTF-8"}


@pytest.fixture
def checkout():
    """The Makefile and scripts where `nobody` can read them (a clone may sit in /root)."""
    directory = tempfile.mkdtemp(prefix="borgui-run-deps-")
    os.chmod(directory, 0o755)
    shutil.copy(ROOT / "Makefile", directory)
    shutil.copytree(ROOT / "scripts", os.path.join(directory, "scripts"))
    yield directory
    shutil.rmtree(directory)


def run_unprivileged(checkout: str, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([*UNPRIVILEGED, *argv], cwd=checkout, env=ENV, capture_output=True, text=True, timeout=120)


def test_make_run_without_root_stops_before_serving_with_one_line_naming_the_packages(checkout):
    result = run_unprivileged(checkout, "make", "-s", "run", f"EXTRA_PACKAGES={NOT_A_PACKAGE}")
    assert result.returncode != 0
    ours = [line for line in result.stderr.splitlines() if line.startswith("borgui:")]
    assert ours == [f"borgui: missing Debian packages, install them as root: apt-get install {NOT_A_PACKAGE}"]
    # borg and ssh are installed on this machine, so only the missing package is named.
    assert "borgbackup" not in result.stderr and "openssh-client" not in result.stderr
    # Stopped before the venv, the keys and the server.
    assert result.stdout == ""
    assert not os.path.exists(os.path.join(checkout, ".venv"))


def test_the_check_passes_without_root_when_borg_and_ssh_are_installed(checkout):
    result = run_unprivileged(checkout, "scripts/install-run-deps.sh")
    assert result.returncode == 0, result.stderr
    assert result.stdout == result.stderr == ""
