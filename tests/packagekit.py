"""Helpers of the package tests: real apt-get and dpkg, fake tools, hostile names."""

import os
import subprocess
from pathlib import Path

import pytest

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="installs with the real apt-get need root")


def dpkg_version(name: str) -> str | None:
    """What a person would check: dpkg's own answer, independent of borgui."""
    result = subprocess.run(
        ["dpkg-query", "-W", "-f=${db:Status-Status} ${Version}", name], capture_output=True, text=True
    )
    status, _, version = result.stdout.partition(" ")
    return version if result.returncode == 0 and status == "installed" else None


def remove_hello() -> None:
    if dpkg_version("hello") is not None:
        subprocess.run(
            ["apt-get", "remove", "-y", "-o", "DPkg::Lock::Timeout=120", "hello"],
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
            capture_output=True,
            check=True,
            timeout=300,
        )
    assert dpkg_version("hello") is None


def make_fake_tools(bin_dir: Path, marker: Path, body: str = "") -> str:
    """A PATH whose apt and sudo tools only record that they were started (then run BODY)."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    for tool in APT_TOOLS:
        script = bin_dir / tool
        script.write_text(f'#!/bin/sh\necho "{tool} $*" >> "{marker}"\n{body}\n')
        script.chmod(0o755)
    return f"{bin_dir}:{os.environ['PATH']}"


# Inputs that must never reach apt-get: options, shell syntax, paths, look-alikes, bad versions.
# Shared by the command's and the admin form's tests.
HOSTILE_NAMES = [
    "-oAPT::Update::Pre-Invoke::=touch /tmp/x",
    "-oAPT::Update::Pre-Invoke::=id",
    "--help",
    "-y",
    "-",
    "hello; rm -rf /",
    "hello;id",
    "$(id)",
    "hello$(id)",
    "`id`",
    "hello|id",
    "hello&&id",
    "hello>x",
    "'hello'",
    "hello\\",
    "*",
    "HELLO",
    "Hello",
    "../x",
    "./hello.deb",
    "/usr/bin/x",
    "a b",
    " hello",
    "hello\n",
    "docker.io\tx",
    "hello\u2028",
    "",
    "h",
    "hello=",
    "hello=abc",
    "hello=~1",
    "hello=1.0;id",
    "hello=1 2",
    "hello=1.0\n-oAPT::Update::Pre-Invoke::=id",
    "hello:amd64",
    "h\u0435llo",  # Cyrillic е
    "\uff48\uff45\uff4c\uff4c\uff4f",  # full-width ｈｅｌｌｏ
    "hello\u200b",  # zero-width space
    "a" * 201,
    "hello\x00",
]


APT_TOOLS = ("apt-get", "apt-cache", "apt", "sudo", "dpkg-query", "dpkg")
