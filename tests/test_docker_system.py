"""``check_system``'s Docker part (docs/docker-hooks.md#system-check) against the real engine, directly and behind a
restricted socket proxy (haproxy with docker-socket-proxy's rules): golden output for a
table of proxy settings × what the enabled hooks and plans use; the exit code follows what
is needed; a dead, missing or hung daemon is one readable line, never a traceback."""

import re
import shutil
import socket
import time
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from hooks.docker_templates import POSTGRES_DUMP, START, STOP, sync_templates
from hooks.models import Script
from repositories.models import Repository
from system.report import DOCKER_CLI_MISSING, docker_commands, docker_needs
from tests.factories import make_plan
from tests.hookkit import attach, make_script

GOLDEN = Path(__file__).parent / "golden"
PROFILE = {"CONTAINERS": 1, "INFO": 1, "POST": 1, "ALLOW_START": 1, "ALLOW_STOP": 1, "ALLOW_RESTARTS": 1}
PROXIES = {
    "defaults": {},  # the image's defaults: nothing of /containers
    "readonly": {"CONTAINERS": 1},
    "profile": PROFILE,  # compose.yaml's docker-socket-proxy profile (the docs page's)
    "exec": {**PROFILE, "EXEC": 1},
}


def check_system(monkeypatch, host: str) -> tuple[int, str]:
    """Run check_system in-process; its Docker lines with the varying parts as placeholders."""
    monkeypatch.setenv("DOCKER_HOST", host)
    out = StringIO()
    try:
        call_command("check_system", stdout=out)
        code = 0
    except CommandError as e:
        code = e.returncode
    lines = out.getvalue().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("docker CLI"))
    text = "\n".join(lines[start:]).replace(host, "{host}") + "\n"
    text = re.sub(r"Docker Engine \S+ \(API [\d.]+\)", "{version}", text)
    return code, re.sub(r" /\S*/docker$", " {cli}", text, flags=re.M)


def configure(needs: str) -> None:
    sync_templates()
    plan = make_plan("nightly", [], ["/srv"], stop_containers=["postgres"] if needs == "plan" else [])
    if needs == "hooks":
        attach(plan, Script.objects.get(name=STOP.name), "pre-backup")
        attach(plan, Script.objects.get(name=START.name), "post-backup", run_on="always")
    elif needs == "dump":
        attach(plan, Script.objects.get(name=POSTGRES_DUMP.name), "pre-backup")
    elif needs == "ps":
        attach(plan, make_script("list-them", "#!/bin/sh\ndocker ps\n"), "pre-backup")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("proxy", "needs"),
    [
        ("direct", "none"),  # the socket, nothing uses it: "do not mount the socket"
        ("direct", "plan"),  # the socket is host-level access
        ("defaults", "plan"),  # nothing open: every needed section FAILED, with its variables
        ("readonly", "hooks"),  # CONTAINERS=1 only: POST=1 and ALLOW_* missing
        ("profile", "plan"),  # the documented profile covers the built-in stop
        ("profile", "dump"),  # … but not docker exec: EXEC=1
        ("exec", "dump"),
        ("profile", "ps"),  # a read-only hook behind a proxy that allows writes
    ],
)
def test_golden_output(docker_host, socket_proxy, monkeypatch, proxy, needs):
    configure(needs)
    host = docker_host.host if proxy == "direct" else socket_proxy(PROXIES[proxy]).host
    code, text = check_system(monkeypatch, host)
    golden = (GOLDEN / f"check_system-{proxy}-{needs}.txt").read_text()
    expected_code, expected_text = golden.split("\n", 1)
    assert text == expected_text
    assert f"exit {code}" == expected_code


@pytest.mark.django_db
def test_through_a_plain_tcp_docker_host(docker_host, socket_proxy, monkeypatch):
    configure("plan")
    forwarder = socket_proxy(mode="tcp")
    code, text = check_system(monkeypatch, forwarder.host)
    assert code == 0
    assert "docker host     note    DOCKER_HOST={host}" in text
    assert "docker daemon   ok      {version}" in text
    assert all(f"{section:<16}ok      allowed" in text for section in ("list/inspect", "start", "stop", "exec"))


@pytest.mark.django_db
@pytest.mark.parametrize("needed", [True, False])
def test_daemon_unreachable_is_one_line(monkeypatch, needed):
    configure("plan" if needed else "none")
    code, text = check_system(monkeypatch, "unix:///nonexistent/borgui/docker.sock")
    problem = "no Docker socket at /nonexistent/borgui/docker.sock (mount the socket or set DOCKER_HOST)"
    if needed:
        assert code == 1
        assert f"docker daemon   FAILED  {problem}\n" in text
    else:
        assert code == 0
        assert f"docker daemon  missing {problem} (no enabled hook or plan needs Docker)\n" in text
    assert not re.search(r"^list/inspect", text, re.M), "nothing to probe"


def test_unreachable_daemon_through_the_command_line(manage):
    plan = make_plan("nightly", [], ["/srv"], stop_containers=["postgres"])
    assert plan.pk
    result = manage("check_system", env={"DOCKER_HOST": "tcp://127.0.0.1:1"})
    assert result.returncode == 1
    assert "docker daemon   FAILED  nothing answers at tcp://127.0.0.1:1 (connection refused" in result.stdout
    assert result.stderr.strip() == "CommandError: not ready: docker daemon"
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.django_db
def test_a_hung_daemon_does_not_hang_the_check(monkeypatch, settings, tmp_path):
    settings.BORGUI_DOCKER_TIMEOUT = 1
    configure("plan")
    path = f"/tmp/borgui-hung-{time.monotonic_ns()}.sock"  # short: unix socket paths are limited
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(5)  # accepts connections (in the backlog), never answers
    try:
        began = time.monotonic()
        code, text = check_system(monkeypatch, f"unix://{path}")
        assert time.monotonic() - began < 10
    finally:
        server.close()
        Path(path).unlink()
    assert code == 1
    assert "docker daemon   FAILED  Docker at {host} did not answer within 1s\n" in text


def test_docker_cli_missing_when_a_hook_needs_it(manage, tmp_path):
    sync_templates()
    plan = make_plan("nightly", [], ["/srv"])
    attach(plan, Script.objects.get(name=STOP.name), "pre-backup")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "borg").symlink_to(shutil.which("borg"))
    result = manage("check_system", env={"PATH": str(bin_dir)})
    assert result.returncode == 1
    assert f"docker CLI      FAILED  {DOCKER_CLI_MISSING}\n" in result.stdout
    assert "CommandError: not ready: docker CLI" in result.stderr
    assert "Traceback" not in result.stderr


# --- what counts as "used by an enabled hook or plan" -----------------------------------------


def test_docker_commands_are_read_from_the_body():
    body = """#!/bin/sh
# docker stop in a comment does not count
if docker ps --format '{{.Names}}' | grep -qx db; then docker container stop db; fi
command -v docker >/dev/null
echo "docker: command not found"
docker exec db pg_dumpall > /tmp/x; docker compose restart; DOCKER_HOST=x docker inspect db
"""
    assert docker_commands(body) == ["ps", "stop", "exec", "compose", "inspect"]


@pytest.mark.parametrize(
    ("line", "commands"),
    [
        ("/usr/bin/docker stop pg", ["stop"]),
        ("docker -H tcp://proxy:2375 stop pg", ["stop"]),
        ("docker --host=tcp://proxy:2375 container restart pg", ["restart"]),
        ("docker --context prod start pg", ["start"]),
        ("docker -D --tls exec pg true", ["exec"]),
        ("ls /var/run/docker.sock; mydocker stop x; $docker stop y; echo docker:", []),
    ],
)
def test_docker_commands_with_a_path_or_global_options(line, commands):
    assert docker_commands(f"#!/bin/sh\n{line}\n") == commands


@pytest.mark.django_db
def test_disabled_source_side_and_unused_hooks_do_not_count():
    sync_templates()  # templates in the library, attached nowhere: not used
    plan = make_plan("nightly", [], ["/srv"])
    off = make_plan("off", [], ["/srv"], enabled=False, stop_containers=["db"])
    attach(off, make_script("off-start", "docker start db\n"), "post-backup")  # its plan is disabled
    attach(plan, Script.objects.get(name=STOP.name), "pre-backup", enabled=False)
    remote = make_script("remote-stop", "docker stop db\n", execution_target="source")
    attach(plan, remote, "pre-backup")
    needs = docker_needs()
    assert (needs.sections, needs.cli_users, needs.unchecked) == ({}, [], [])


@pytest.mark.django_db
def test_inline_hooks_and_unknown_commands_count(docker_host, monkeypatch):
    Repository.objects.create(
        name="main", location="/backups/main", encryption="none", post_backup_script="docker start db"
    )
    plan = make_plan("nightly", [], ["/srv"])
    attach(plan, make_script("compose-down", "docker compose stop\n"), "pre-backup")
    needs = docker_needs()
    assert needs.sections == {"start": ["inline post-backup hook of main"]}
    assert needs.cli_users == ["script compose-down", "inline post-backup hook of main"]
    code, text = check_system(monkeypatch, docker_host.host)
    assert code == 0
    assert "hint            note    script compose-down: docker compose: not checked here" in text


@pytest.mark.django_db
def test_a_proxy_hiding_the_version_is_named(docker_host, socket_proxy, monkeypatch):
    configure("plan")
    proxy = socket_proxy({**PROFILE, "VERSION": 0})
    code, text = check_system(monkeypatch, proxy.host)
    assert code == 1
    denied = "denied by the Docker socket proxy at {host} (HTTP 403): enable VERSION=1 on the proxy"
    assert f"docker daemon   FAILED  {denied}\n" in text


@pytest.mark.django_db
def test_a_docker_cli_installed_while_the_worker_runs_is_seen_without_a_restart(tmp_path, monkeypatch):
    from system.tasks import system_report

    bin_dir, tools = tmp_path / "bin", tmp_path / "tools"
    bin_dir.mkdir()
    tools.mkdir()
    (tools / "borg").symlink_to(shutil.which("borg"))  # borg, and no docker CLI, on PATH
    monkeypatch.setenv("PATH", f"{bin_dir}:{tools}")

    def cli_line() -> str:
        return next(f"{c['ok']} {c['detail']}" for c in system_report()["checks"] if c["name"] == "docker CLI")

    assert cli_line() == f"False {DOCKER_CLI_MISSING}"
    (bin_dir / "docker").write_text("#!/bin/sh\nexit 0\n")  # what `apt-get install docker.io` puts on PATH
    (bin_dir / "docker").chmod(0o755)
    assert cli_line() == f"True {bin_dir / 'docker'}"
