"""The system report behind ``check_system`` and the admin's System page.

Each check is a small function returning a ``Check``; the report is their list. A check
never raises: whatever goes wrong becomes its one-line detail.
"""

import shutil
import subprocess
from dataclasses import dataclass

from django.db import connection

DOCKER_CLI_MISSING = (
    "docker: command not found — install docker.io from Packages, or use an image that includes the Docker CLI"
)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    # A failed required check makes check_system exit 1; others are information.
    required: bool = True

    @property
    def label(self) -> str:
        if self.ok:
            return "ok"
        return "FAILED" if self.required else "missing"


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0] if lines else ""


def check_borg() -> Check:
    borg = shutil.which("borg")
    if borg is None:
        return Check("borg", False, "borg: command not found — install borgbackup")
    try:
        result = subprocess.run([borg, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return Check("borg", False, f"borg --version did not run: {e}")
    if result.returncode != 0:
        return Check("borg", False, _first_line(result.stderr) or f"borg --version exit {result.returncode}")
    return Check("borg", True, _first_line(result.stdout))


def check_database() -> Check:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        version = _database_version()
    except Exception as e:  # the report says what is wrong instead of failing
        return Check("database", False, _first_line(str(e)) or type(e).__name__)
    return Check("database", True, version)


def _database_version() -> str:
    if connection.vendor == "postgresql":
        major, rest = divmod(connection.pg_version, 10000)
        return f"PostgreSQL {major}.{rest} ({connection.settings_dict['NAME']})"
    if connection.vendor == "sqlite":
        import sqlite3

        return f"SQLite {sqlite3.sqlite_version} ({connection.settings_dict['NAME']})"
    return connection.vendor


def check_docker_cli(required: bool = False) -> Check:
    docker = shutil.which("docker")
    if docker is None:
        return Check("docker CLI", False, DOCKER_CLI_MISSING, required=required)
    return Check("docker CLI", True, docker, required=required)


def system_report() -> list[Check]:
    return [check_borg(), check_database(), check_docker_cli()]


def report_ok(report: list[Check]) -> bool:
    return all(check.ok for check in report if check.required)
