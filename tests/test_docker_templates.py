"""The ready Docker templates (docs/docker-hooks.md#ready-templates) run for real: each template × a running, a stopped
and a missing container gives its documented exit code and leaves the container in the
documented state; a second run changes nothing. Also through a TCP DOCKER_HOST, behind a
restricted socket proxy (a readable refusal naming the setting), without the docker CLI,
and as created by the migration / ``recreate_templates``."""

import os
import shutil
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db.migrations.executor import MigrationExecutor

from hooks import docker_templates
from hooks.docker_templates import POSTGRES_DUMP, RESTART, START, STOP, TEMPLATES
from hooks.models import Script
from hooks.parameters import proposed_parameters
from hooks.services.runner import run_script
from system.report import DOCKER_CLI_MISSING

# A busybox "database": pg_dumpall on its PATH prints a recognisable dump.
FAKE_PG = (
    'echo "#!/bin/sh" > /bin/pg_dumpall; '
    'echo "echo -- fake dump of \\$*" >> /bin/pg_dumpall; '
    "busybox chmod +x /bin/pg_dumpall; exec sleep 3600"
)
FAILING_PG = (
    'echo "#!/bin/sh" > /bin/pg_dumpall; '
    'echo "echo partial; echo pg_dumpall: error: connection refused >&2; exit 1" >> /bin/pg_dumpall; '
    "busybox chmod +x /bin/pg_dumpall; exec sleep 3600"
)


def run_template(template, docker_host_url: str, container: str, **params):
    env = {"PATH": os.environ["PATH"], "DOCKER_HOST": docker_host_url, "CONTAINER_NAME": container, **params}
    return run_script(template.body, env, timeout=60)


def make_container(dockerd, name: str, state: str, command=("sleep", "3600")):
    if state == "missing":
        return
    dockerd.run_container(name, command=command)
    if state == "stopped":
        dockerd.docker("stop", name)


def started_at(dockerd, name: str) -> str:
    return dockerd.docker("inspect", "--format", "{{.State.StartedAt}}", name).stdout.decode().strip()


# template, container state before → exit code, state after
TABLE = [
    (STOP, "running", 0, "exited"),
    (STOP, "stopped", 0, "exited"),
    (STOP, "missing", 2, "missing"),
    (START, "running", 0, "running"),
    (START, "stopped", 0, "running"),
    (START, "missing", 2, "missing"),
    (RESTART, "running", 0, "running"),
    (RESTART, "stopped", 0, "running"),
    (RESTART, "missing", 2, "missing"),
    (POSTGRES_DUMP, "running", 0, "running"),
    (POSTGRES_DUMP, "stopped", 3, "exited"),
    (POSTGRES_DUMP, "missing", 2, "missing"),
]


@pytest.mark.parametrize(
    ("template", "before", "exit_code", "after"), TABLE, ids=[f"{t.name}-{b}" for t, b, _, _ in TABLE]
)
def test_exit_codes(docker_host, tmp_path, template, before, exit_code, after):
    make_container(docker_host, "svc", before, command=("sh", "-c", FAKE_PG))
    before_start = started_at(docker_host, "svc") if before != "missing" else None
    dumps = tmp_path / "dumps"

    first = run_template(template, docker_host.host, "svc", DUMP_DIR=str(dumps))
    assert first.exit_code == exit_code, first.stdout + first.stderr
    assert docker_host.state("svc") == after
    if exit_code == 2:
        assert "no container named svc (check CONTAINER_NAME)" in first.stderr
    if template is RESTART and before == "running":
        assert started_at(docker_host, "svc") != before_start, "it was restarted"
    if template is POSTGRES_DUMP:
        written = sorted(p.name for p in dumps.iterdir()) if dumps.exists() else []
        assert written == (["svc.sql"] if exit_code == 0 else [])

    # Idempotent: a second run ends in the same state (stop/start: with nothing left to do).
    second = run_template(template, docker_host.host, "svc", DUMP_DIR=str(dumps))
    assert second.exit_code == exit_code, second.stdout + second.stderr
    assert docker_host.state("svc") == after
    if template is STOP and before == "running":
        assert "svc is not running: nothing to stop" in second.stdout
    if template is START and before == "stopped":
        assert "svc is already running: nothing to start" in second.stdout


def test_postgres_dump_writes_the_dump_and_keeps_the_last_good_one(docker_host, tmp_path):
    docker_host.run_container("postgres", command=("sh", "-c", FAKE_PG))
    dumps = tmp_path / "db-dumps"

    result = run_template(POSTGRES_DUMP, docker_host.host, "postgres", DUMP_DIR=str(dumps))
    assert result.exit_code == 0, result.stderr
    dump = dumps / "postgres.sql"
    assert dump.read_text() == "-- fake dump of -U postgres\n"
    assert oct(dump.stat().st_mode & 0o777) == "0o600", "a dump holds secrets: owner only"
    assert result.stdout.startswith(f"dumped postgres to {dump} (")

    # A failing pg_dumpall never replaces the good dump, and leaves no temp file behind.
    docker_host.docker("rm", "-f", "postgres")
    docker_host.run_container("postgres", command=("sh", "-c", FAILING_PG))
    failed = run_template(POSTGRES_DUMP, docker_host.host, "postgres", DUMP_DIR=str(dumps), POSTGRES_USER="app")
    assert failed.exit_code == 1
    assert "pg_dumpall: error: connection refused" in failed.stderr
    assert dump.read_text() == "-- fake dump of -U postgres\n"
    assert [p.name for p in dumps.iterdir()] == ["postgres.sql"]


def test_templates_through_a_tcp_docker_host(docker_host, socket_proxy, tmp_path):
    forwarder = socket_proxy(mode="tcp")
    docker_host.run_container("db", command=("sh", "-c", FAKE_PG))
    assert run_template(STOP, forwarder.host, "db").exit_code == 0
    assert docker_host.state("db") == "exited"
    assert run_template(START, forwarder.host, "db").exit_code == 0
    assert docker_host.state("db") == "running"
    dump = run_template(POSTGRES_DUMP, forwarder.host, "db", DUMP_DIR=str(tmp_path))
    assert dump.exit_code == 0, dump.stderr
    assert (tmp_path / "db.sql").read_text() == "-- fake dump of -U postgres\n"


@pytest.mark.parametrize(
    ("variables", "template", "before", "hint"),
    [
        ({}, STOP, "running", "refused 'docker ps' (HTTP 403): enable CONTAINERS=1 on the proxy"),
        ({"CONTAINERS": 1}, STOP, "running", "refused 'docker stop' (HTTP 403): enable POST=1 and ALLOW_STOP=1"),
        # ALLOW_START alone does nothing: every POST is refused without POST=1.
        ({"CONTAINERS": 1, "ALLOW_START": 1}, START, "stopped", "refused 'docker start' (HTTP 403): enable POST=1"),
        (
            {"CONTAINERS": 1, "POST": 1, "ALLOW_RESTARTS": 0, "ALLOW_START": 1},
            POSTGRES_DUMP,
            "running",
            "refused 'docker exec' (HTTP 403): enable CONTAINERS=1, POST=1 and EXEC=1 on the proxy",
        ),
    ],
)
def test_a_restricted_proxy_fails_the_hook_with_a_readable_message(
    docker_host, socket_proxy, tmp_path, variables, template, before, hint
):
    make_container(docker_host, "db", before, command=("sh", "-c", FAKE_PG))
    proxy = socket_proxy(variables)
    result = run_template(template, proxy.host, "db", DUMP_DIR=str(tmp_path))
    assert result.exit_code == 1
    assert "403" in result.stderr
    assert f"borgui: the Docker socket proxy {hint}" in result.stderr
    assert "Traceback" not in result.stderr
    assert docker_host.state("db") == ("running" if before == "running" else "exited")


def test_the_documented_proxy_profile_runs_stop_start_restart_and_refuses_exec(docker_host, socket_proxy, tmp_path):
    # The docs' profile has no EXEC=1: the pg_dumpall template is refused with the hint.
    # (A successful dump through a proxy is not run here: Debian 12's HAProxy 2.6 does not
    # pass the HTTP upgrade of `POST /exec/ID/start`; check_system's exec probe, which
    # needs no upgrade, shows EXEC=1 opening it, and the dump runs through tcp:// above.)
    profile = {"CONTAINERS": 1, "INFO": 1, "POST": 1, "ALLOW_START": 1, "ALLOW_STOP": 1, "ALLOW_RESTARTS": 1}
    docker_host.run_container("db", command=("sh", "-c", FAKE_PG))
    proxy = socket_proxy(profile)
    for template, state in ((STOP, "exited"), (START, "running"), (RESTART, "running")):
        result = run_template(template, proxy.host, "db")
        assert result.exit_code == 0, result.stderr
        assert docker_host.state("db") == state
    dump = run_template(POSTGRES_DUMP, proxy.host, "db", DUMP_DIR=str(tmp_path))
    assert dump.exit_code == 1
    assert "enable CONTAINERS=1, POST=1 and EXEC=1 on the proxy" in dump.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: t.name)
def test_without_the_docker_cli_the_exact_troubleshooting_text(template, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "bash").symlink_to(shutil.which("bash"))
    env = {"PATH": str(bin_dir), "DOCKER_HOST": "unix:///nonexistent.sock"}
    result = run_script(template.body, env, timeout=30)
    assert result.exit_code == 127
    assert result.stderr == DOCKER_CLI_MISSING + "\n"


def test_daemon_unreachable_is_exit_1_with_dockers_message(tmp_path):
    result = run_template(STOP, "unix:///nonexistent/docker.sock", "db")
    assert result.exit_code == 1
    assert "Cannot connect to the Docker daemon" in result.stderr


# --- the templates in the script library -----------------------------------------------------


def _check_library():
    for template in TEMPLATES:
        script = Script.objects.get(name=template.name)
        assert script.is_template and script.is_approved and script.approved_by == "borgui"
        assert script.body == template.body
        params = {p.name: p.default for p in script.parameters.all()}
        assert params["CONTAINER_NAME"] == "postgres"
        # Every declared parameter is one the body uses, as the admin would propose it.
        assert params == proposed_parameters(template.body)
        for word in ("Running", "Stopped", "Missing", "exit 2"):
            assert word in script.description


@pytest.mark.django_db
def test_recreate_templates_restores_missing_and_changed_ones(capsys):
    Script.objects.filter(is_template=True).delete()
    call_command("recreate_templates")
    assert capsys.readouterr().out.splitlines()[-1] == "5 template(s) created or restored"
    _check_library()

    call_command("recreate_templates")
    assert capsys.readouterr().out.splitlines()[-1] == "0 template(s) created or restored"

    stop = Script.objects.get(name=STOP.name)
    stop.body += "\necho changed\n"
    stop.save()
    assert not stop.is_approved
    Script.objects.get(name=START.name).delete()
    call_command("recreate_templates")
    out = capsys.readouterr().out
    assert f"{STOP.name}: restored" in out and f"{START.name}: created" in out
    _check_library()


@pytest.mark.django_db
def test_a_script_of_the_user_with_a_template_name_is_left_alone(capsys):
    Script.objects.filter(name=STOP.name).delete()
    Script.objects.create(name=STOP.name, body="echo mine")
    call_command("recreate_templates")
    assert f"{STOP.name}: skipped: a script that is not a template has this name" in capsys.readouterr().out
    assert Script.objects.get(name=STOP.name).body == "echo mine"


@pytest.mark.django_db
def test_the_data_migration_creates_them_with_historical_models():
    from django.db import connection

    Script.objects.filter(is_template=True).delete()
    executor = MigrationExecutor(connection)
    state = executor.loader.project_state(("hooks", "0002_docker_templates"))
    results = docker_templates.sync_templates(state.apps)
    assert [action for _, action in results] == ["created"] * 5
    _check_library()


def test_template_bodies_use_the_docs_idioms():
    for template in TEMPLATES:
        assert template.body.startswith("#!/usr/bin/env bash\n")
        assert "set -euo pipefail" in template.body
        assert 'container="${CONTAINER_NAME:-postgres}"' in template.body
        assert "docker ps --format '{{.Names}}'" in template.body
    assert 'docker exec "$container" pg_dumpall -U "$user"' in POSTGRES_DUMP.body
    assert 'dump_dir="${DUMP_DIR:-/local/db-dumps}"' in POSTGRES_DUMP.body
    assert Path("/local/db-dumps").as_posix() in POSTGRES_DUMP.description + POSTGRES_DUMP.body
