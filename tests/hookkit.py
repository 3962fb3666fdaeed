"""Builders for hook tests: scripts that record what they saw into a file."""

import json
import re
from datetime import datetime
from pathlib import Path

from hooks.models import HookAttachment, Script, ScriptParameter

# Appends "MARK STATUS" to $LOG and exits with $EXIT_CODE: order and status, as seen by the hook.
RECORDER = """#!/bin/sh
echo "$MARK ${BORG_UI_BACKUP_STATUS:-}" >> "$LOG"
exit "${EXIT_CODE:-0}"
"""

# Writes its whole environment as JSON to $LOG.
ENV_DUMP = """#!/usr/bin/env python3
import json, os
with open(os.environ["LOG"], "a") as f:
    f.write(json.dumps(dict(os.environ)) + "\\n")
"""


def make_script(name: str, body: str, params: dict[str, str] | None = None, approved=True, **fields) -> Script:
    script = Script.objects.create(name=name, body=body, **fields)
    for param, default in (params or {}).items():
        ScriptParameter.objects.create(script=script, name=param, default=default)
    if approved:
        script.approve("tests")
    return script


def recorder(name: str = "recorder") -> Script:
    return make_script(name, RECORDER, {"MARK": "", "LOG": "", "EXIT_CODE": "0"})


def attach(owner, script: Script, hook_type: str, order: int = 0, values=None, **fields) -> HookAttachment:
    kind = "plan" if owner.__class__.__name__ == "BackupPlan" else "repository"
    attachment = HookAttachment(script=script, hook_type=hook_type, order=order, **{kind: owner}, **fields)
    attachment.set_values(values or {})
    attachment.full_clean()
    attachment.save()
    return attachment


def read_marks(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def read_envs(log: Path) -> list[dict]:
    return [json.loads(line) for line in read_marks(log)]


def borg_ui(env: dict) -> dict:
    return {k: v for k, v in env.items() if k.startswith("BORG_UI_")}


def docker_times(dockerd, name: str) -> tuple[datetime, datetime]:
    """(State.StartedAt, State.FinishedAt) of a container, as aware datetimes."""
    out = dockerd.docker("inspect", "--format", "{{.State.StartedAt}} {{.State.FinishedAt}}", name).stdout.decode()
    return tuple(_parse_docker_time(value) for value in out.split())


def _parse_docker_time(value: str) -> datetime:
    # 2026-11-26T09:48:00.123456789Z: Python reads at most microseconds.
    match = re.fullmatch(r"(.+T\d\d:\d\d:\d\d)(\.\d+)?Z", value)
    fraction = (match.group(2) or ".0")[:7]
    return datetime.fromisoformat(f"{match.group(1)}{fraction}+00:00")
