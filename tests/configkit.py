"""Helpers of the configuration-as-code tests: a base file, applying it, the tables it touches."""

import io
from pathlib import Path

import yaml
from django.core.management import call_command
from django_q.models import OrmQ, Schedule

from hooks.models import HookAttachment, Script, ScriptApproval, ScriptParameter
from packages_admin.models import PackageInstall
from repositories.models import BackupPlan, PlanRepository, Repository, SSHConnection

TABLES = [
    SSHConnection, Script, ScriptParameter, ScriptApproval, HookAttachment, Repository, BackupPlan,
    PlanRepository, PackageInstall, Schedule, OrmQ,
]  # fmt: skip


def snapshot() -> dict:
    """Every row of every table apply_config may touch (secrets decrypted, so comparable)."""
    return {model.__name__: list(model.objects.order_by("pk").values()) for model in TABLES}


def apply_file(path: Path, *args: str) -> tuple[int, str, str]:
    """apply_config in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("apply_config", str(path), *args, stdout=out, stderr=err)
        code = 0
    except SystemExit as e:
        code = e.code
    return code, out.getvalue(), err.getvalue()


def write(tmp_path: Path, content, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    if isinstance(content, dict):
        content = yaml.safe_dump(content, sort_keys=False)
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


BASE = {
    "ssh_connections": [{"name": "web1", "host": "192.0.2.10", "port": 22, "username": "backup"}],
    "scripts": [
        {
            "name": "stop-db",
            "body": '#!/bin/sh\ndocker stop "${CONTAINER_NAME:-postgres}"\n',
            "parameters": [{"name": "CONTAINER_NAME", "default": "postgres"}],
            "approved": True,
        },
        {"name": "start-db", "body": '#!/bin/sh\ndocker start "${CONTAINER_NAME:-postgres}"\n'},
    ],
    "repositories": [
        {"name": "main", "path": "/backups/main", "encryption": "none"},
        {"name": "offsite", "path": "ssh://backup@192.0.2.20:2222/./offsite", "encryption": "none"},
    ],
    "plans": [
        {
            "name": "nightly",
            "repositories": ["main"],
            "sources": ["/srv/data"],
            "schedule": "0 3 * * *",
            "timezone": "Europe/Berlin",
            "retention": {"keep_daily": 7},
            "hooks": {
                "pre-backup": [
                    {"script": "stop-db", "parameters": {"CONTAINER_NAME": "db1"}},
                    {"script": "stop-db", "on_failure": "continue"},
                ],
                "post-backup": [{"script": "start-db", "run_on": "always"}],
            },
        }
    ],
    "packages": ["docker.io"],
}
