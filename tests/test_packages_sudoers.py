"""The image's sudoers rule lets the app user run exactly borgui's two apt-get commands."""

import os
import subprocess
import uuid
from pathlib import Path

import pytest

from packages_admin.services import install_argv
from packages_admin.sudoers import sudoers_rule

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="installs a sudoers file for the test")

INSTALL_PREFIX = install_argv("hello")[:-1]


@pytest.fixture
def rule_for_nobody():
    path = Path(f"/etc/sudoers.d/zz-borgui-test-{uuid.uuid4().hex[:8]}")
    path.write_text(sudoers_rule("nobody"))
    path.chmod(0o440)
    check = subprocess.run(["visudo", "-cf", str(path)], capture_output=True, text=True)
    try:
        assert check.returncode == 0, check.stdout + check.stderr
        yield
    finally:
        path.unlink()


def allowed(*args: str) -> bool:
    """Would sudo let `nobody` run /usr/bin/apt-get ARGS without a password?"""
    return (
        subprocess.run(["sudo", "-n", "-l", "-U", "nobody", "/usr/bin/apt-get", *args], capture_output=True).returncode
        == 0
    )


@pytest.mark.parametrize("spec", ["hello", "docker.io", "hello=2.10-3", "libc6=2.36-9+deb12u4", "g++"])
def test_the_commands_borgui_runs_are_allowed(rule_for_nobody, spec):
    assert allowed("update")
    argv = install_argv(spec)
    assert argv[: len(INSTALL_PREFIX)] == INSTALL_PREFIX
    assert allowed(*argv[argv.index("apt-get") + 1 :])


@pytest.mark.parametrize(
    "args",
    [
        ["-o", "APT::Update::Pre-Invoke::=touch /tmp/pwned", "update"],
        ["update", "-o", "APT::Update::Pre-Invoke::=touch /tmp/pwned"],
        ["install", "hello"],
        ["install", "-y", "--", "hello"],
        [*INSTALL_PREFIX[1:], "./evil.deb"],
        [*INSTALL_PREFIX[1:], "/tmp/evil.deb"],
        [*INSTALL_PREFIX[1:], "hello", "./evil.deb"],
        [*INSTALL_PREFIX[1:], "hello", "-oDpkg::Pre-Invoke::=sh"],
        [*INSTALL_PREFIX[1:], "HELLO"],
        ["remove", "-y", "--", "sudo"],
        ["source", "hello"],
        [],
    ],
)
def test_anything_else_is_refused(rule_for_nobody, args):
    assert not allowed(*args)
