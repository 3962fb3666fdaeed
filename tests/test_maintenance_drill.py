"""Restore drills (docs/maintenance.md) with real borg, the archives app's restore, the
hook runner, and the postgres-restore-drill template in the suite's dockerd."""

import re
import time
from pathlib import Path

import pytest

from hooks.docker_templates import POSTGRES_RESTORE_DRILL, sync_templates
from hooks.models import Script, ScriptExecution, ScriptParameter
from maintenance.models import PlanMaintenance
from notifications.models import Event
from repositories.services import runs
from tests.factories import make_plan, make_repository
from tests.harness import postgres_image
from tests.maintenancekit import job_of
from tests.notifykit import json_channel

pytestmark = pytest.mark.django_db(transaction=True)

CHECKING_SCRIPT = """#!/bin/sh
set -eu
echo "type=$BORG_UI_HOOK_TYPE archive=$BORG_UI_ARCHIVE_NAME repository=$BORG_UI_REPOSITORY_NAME"
echo "restored into $BORG_UI_RESTORE_PATH"
echo "token is $TOKEN"
test -f "$BORG_UI_RESTORE_PATH/$WANTED"
grep -q -e "$EXPECTED" "$BORG_UI_RESTORE_PATH/$WANTED"
"""


@pytest.fixture
def drilled(tmp_path):
    source = tmp_path / "src"
    (source / "dumps").mkdir(parents=True)
    (source / "dumps" / "app.sql").write_text("CREATE TABLE t (id int);\n-- complete\n")
    (source / "other.txt").write_text("not restored")
    repository = make_repository(tmp_path / "repo")
    plan = make_plan("nightly", [repository], [source])
    script = Script.objects.create(name="check-dump", body=CHECKING_SCRIPT, timeout=30)
    for name, secret in (("WANTED", False), ("EXPECTED", False), ("TOKEN", True)):
        ScriptParameter.objects.create(script=script, name=name, secret=secret)
    script.approve("reviewer")
    settings = PlanMaintenance(plan=plan, drill_script=script, drill_paths=[f"{str(source).lstrip('/')}/dumps"])
    wanted = f"{str(source).lstrip('/')}/dumps/app.sql"
    settings.set_drill_values({"WANTED": wanted, "EXPECTED": "-- complete", "TOKEN": "s3cret-token-991"})
    settings.save()
    assert runs.run_in_foreground(plan).status == "success"
    return plan, source, script


def _scratch(text: str) -> Path:
    return Path(re.search(r"restored into (\S+)", text).group(1))


def test_a_drill_restores_the_paths_runs_the_script_and_removes_the_scratch(manage, drilled):
    plan, source, _script = drilled
    result = manage("drill_plan", "nightly")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == "status: success"
    job = job_of("drill")
    execution = ScriptExecution.objects.get(hook_type="restore-drill")
    assert job.script_execution == execution and execution.exit_code == 0
    archive = job.results["archive"]
    assert f"type=restore-drill archive={archive} repository=main" in execution.stdout
    assert "token is ***" in execution.stdout and "s3cret-token-991" not in job.log + execution.stdout
    scratch = _scratch(execution.stdout)
    assert scratch.name.startswith(f"borgui-drill-{job.pk}-") and not scratch.exists()
    # only the chosen paths were restored (the restore job records them)
    assert job.results["paths"] == [f"{str(source).lstrip('/')}/dumps"]


def test_a_failing_drill_is_a_failure_and_a_verify_event(manage, drilled, receiver):
    json_channel(receiver, events=["verify"])
    plan, source, _script = drilled
    (source / "dumps" / "app.sql").write_text("CREATE TABLE t (id int);\n")  # the dump lost its end
    assert runs.run_in_foreground(plan).status == "success"
    result = manage("drill_plan", "nightly")
    assert result.returncode == 2, result.stdout
    job = job_of("drill")
    assert job.status == "failure" and job.reason == "drill failed: check-dump exit 1"
    assert not _scratch(job.script_execution.stdout).exists()
    event = Event.objects.get(kind="verify")
    assert event.plan == plan and event.details["subject"] == "drill nightly"


def test_an_unapproved_script_is_not_run(manage, drilled):
    _plan, _source, script = drilled
    script.body += "\necho changed\n"
    script.save()
    result = manage("drill_plan", "nightly")
    assert result.returncode == 2
    assert "is not approved" in job_of("drill").reason
    assert ScriptExecution.objects.get().stdout == ""


def test_a_plan_without_a_drill(manage, tmp_path):
    make_plan("bare", [make_repository(tmp_path / "repo", init=False)], [tmp_path])
    result = manage("drill_plan", "bare")
    assert result.returncode == 2 and "plan bare has no drill script" in result.stdout
    assert manage("drill_plan", "nope").stderr.strip() == "CommandError: no backup plan named 'nope'"


# --- the postgres-restore-drill template, with a real PostgreSQL in the suite's dockerd ----


@pytest.fixture
def postgres_dump(docker_host, tmp_path):
    image = postgres_image.import_into(docker_host)
    docker_host.docker("run", "-d", "--name", "pg-source", "--network", "none", "-e", "POSTGRES_PASSWORD=pw", image)
    postgres_image.psql(docker_host, "pg-source", "postgres", "CREATE DATABASE app")
    postgres_image.psql(
        docker_host, "pg-source", "app",
        "CREATE TABLE items (id int PRIMARY KEY, name text);"
        "INSERT INTO items SELECT g, repeat('item ' || g, 20) FROM generate_series(1, 500) g",
    )  # fmt: skip
    dump = docker_host.docker("exec", "pg-source", "pg_dumpall", "-U", "postgres").stdout
    assert b"COPY public.items" in dump
    source = tmp_path / "src"
    (source / "dumps").mkdir(parents=True)
    (source / "dumps" / "all.sql").write_bytes(dump)
    return image, source


def test_the_postgres_template_passes_a_good_dump_and_fails_a_truncated_one(
    manage, docker_host, postgres_dump, tmp_path
):
    image, source = postgres_dump
    sync_templates()  # a transactional test before this one may have flushed the migration's rows
    template = Script.objects.get(name=POSTGRES_RESTORE_DRILL.name)
    assert template.is_template and template.is_approved
    plan = make_plan("db", [make_repository(tmp_path / "repo")], [source])
    settings = PlanMaintenance(plan=plan, drill_script=template, drill_paths=[f"{str(source).lstrip('/')}/dumps"])
    settings.set_drill_values(
        {"CONTAINER_IMAGE": image, "CHECK_DATABASE": "app", "CHECK_SQL": "SELECT 1 / (count(*) = 500)::int FROM items"}
    )
    settings.save()
    env = {"DOCKER_HOST": docker_host.host}
    assert runs.run_in_foreground(plan).status == "success"
    started = time.monotonic()
    good = manage("drill_plan", "db", env=env, timeout=600)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "restore drill: passed" in job_of("drill").script_execution.stdout
    dump = source / "dumps" / "all.sql"
    dump.write_bytes(dump.read_bytes()[: dump.stat().st_size // 2])
    assert runs.run_in_foreground(plan).status == "success"
    bad = manage("drill_plan", "db", env=env, timeout=600)
    assert bad.returncode == 2, bad.stdout
    job = job_of("drill")
    assert job.status == "failure" and "restore drill: failed (the container exited with" in (
        job.script_execution.stderr
    )
    # no container is left behind, and neither is the scratch directory
    names = docker_host.docker("ps", "-a", "--format", "{{.Names}}").stdout.decode().split()
    assert names == ["pg-source"], names
    assert time.monotonic() - started < 600
