"""The system report behind ``check_system`` and the admin's System page (docs/docker-hooks.md).

Each check is a small function returning a ``Check``; the report is their list. A check
never raises: whatever goes wrong becomes its one-line detail. A check is *required* when
something configured depends on it (borg and the database always; the docker CLI, the
daemon and each Docker API section only when an enabled hook or plan uses them; sshfs and
/dev/fuse, shown only then, when an enabled plan has its sources on a source host), and
``check_system`` exits 1 when a required check failed. Notes (where Docker is expected,
what the hooks need, the proxy variables that takes, the security hints) are information.
"""

import os
import re
import shutil
import socket
import subprocess
from dataclasses import asdict, dataclass, field

from django.conf import settings
from django.db import connection

from common import docker_client
from common.docker_client import API_SECTIONS, EXEC, LIST, RESTART, START, STOP
from hooks.models import ExecutionTarget, HookAttachment
from repositories.models import BackupPlan, Repository, SourcesOn
from repositories.status import HookType

DOCKER_CLI_MISSING = (
    "docker: command not found — install docker.io from Packages, or use an image that includes the Docker CLI"
)
NOT_NEEDED_HINT = (
    "Docker is reachable but no enabled hook or plan uses it: do not mount the socket unless hooks need it"
)
PROXY_NOTES = (
    "ALLOW_START, ALLOW_STOP and ALLOW_RESTARTS work only together with POST=1",
    "POST=1 with CONTAINERS=1 opens every container write (create, remove, exec…), not only start and stop",
    "docker exec also needs EXEC=1",
)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    # A failed required check makes check_system exit 1; others are information.
    required: bool = True
    note: bool = False  # information only: where Docker is, what hooks need, hints

    @property
    def label(self) -> str:
        if self.note:
            return "note"
        if self.ok:
            return "ok"
        return "FAILED" if self.required else "missing"


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0] if lines else ""


def check_borg() -> Check:
    # The binary backups run (BORGUI_BORG_BINARY), not whichever borg is first on PATH.
    configured = settings.BORG_BINARY
    borg = shutil.which(configured)
    if borg is None:
        if configured == "borg":
            return Check("borg", False, "borg: command not found — install borgbackup")
        return Check("borg", False, f"BORGUI_BORG_BINARY={configured}: not found — install borgbackup or fix the path")
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


# --- what the configured hooks and plans need of Docker -----------------------------------

# `docker SUBCOMMAND` (or `docker container SUBCOMMAND`) → the API section it uses.
_SUBCOMMANDS = {
    "ps": LIST, "ls": LIST, "list": LIST, "inspect": LIST, "logs": LIST, "top": LIST, "port": LIST,
    "stats": LIST, "start": START, "stop": STOP, "restart": RESTART, "exec": EXEC,
}  # fmt: skip
_HARMLESS = {"version", "info", "help"}
# The CLI's global options come before the subcommand: `docker -H tcp://… stop db`.
_GLOBAL_OPTIONS = (
    r"(?:(?:-H|--host|-c|--context|--config|-l|--log-level|--tlscacert|--tlscert|--tlskey)(?:=|\s+)\S+"
    r"|-D|--debug|--tls|--tlsverify)"
)
_DOCKER_COMMAND = re.compile(
    r"(?<![\w./$-])(?:/[\w.-]+)*/?docker"  # docker, or a path to it: /usr/bin/docker
    rf"(?:\s+{_GLOBAL_OPTIONS})*\s+(?:container\s+)?([a-z][a-z-]*)"
)


def docker_commands(body: str) -> list[str]:
    """The ``docker …`` subcommands a script body runs, in order, once each (comments skipped)."""
    found: list[str] = []
    for line in body.splitlines():
        code = line.strip()
        if code.startswith("#"):
            continue
        for match in _DOCKER_COMMAND.finditer(code):
            if match.group(1) not in found:
                found.append(match.group(1))
    return found


@dataclass
class DockerNeeds:
    """Which API sections enabled hooks and plans use, and who uses each."""

    sections: dict[str, list[str]] = field(default_factory=dict)
    cli_users: list[str] = field(default_factory=list)  # local hooks that run the docker CLI
    unchecked: list[str] = field(default_factory=list)  # "script X: docker compose"

    def add(self, section: str, user: str) -> None:
        users = self.sections.setdefault(section, [])
        if user not in users:
            users.append(user)

    @property
    def any(self) -> bool:
        return bool(self.sections or self.cli_users or self.unchecked)

    def ordered(self) -> list[str]:
        return [section for section in API_SECTIONS if section in self.sections]


def _hook_bodies():
    """(who, body) of every enabled hook that runs here (not on a source host)."""
    # A disabled plan counts as unused, for its hooks as for its built-in stop below.
    attachments = (
        HookAttachment.objects.filter(enabled=True)
        .exclude(plan__enabled=False)
        .select_related("script")
        .order_by("script__name", "id")
    )
    seen = set()
    for attachment in attachments:
        script = attachment.script
        if script.execution_target != ExecutionTarget.LOCAL or script.pk in seen:
            continue
        seen.add(script.pk)
        yield f"script {script.name}", script.body
    for repository in Repository.objects.order_by("name"):
        for hook_type in HookType:
            body = repository.inline_hook_in_effect(hook_type)
            if body:
                yield f"inline {hook_type.value} hook of {repository.name}", body


def add_hook_needs(needs: DockerNeeds, who: str, body: str) -> None:
    """What the hook WHO with BODY needs of Docker, added to NEEDS."""
    commands = docker_commands(body)
    if not commands:
        return
    needs.cli_users.append(who)
    unknown = []
    for command in commands:
        if command in _SUBCOMMANDS:
            needs.add(_SUBCOMMANDS[command], who)
        elif command not in _HARMLESS:
            unknown.append(f"docker {command}")
    if unknown:
        needs.unchecked.append(f"{who}: {', '.join(unknown)}")


def docker_needs() -> DockerNeeds:
    needs = DockerNeeds()
    for who, body in _hook_bodies():
        add_hook_needs(needs, who, body)
    for plan in BackupPlan.objects.filter(enabled=True).order_by("name"):
        # A plan with its sources on a source host stops that host's containers (docs/remote-sources.md).
        if plan.stop_containers and not SourcesOn(plan.sources_on).mounted:
            for section in (LIST, STOP, START):
                needs.add(section, f"plan {plan.name} (stop_containers)")
    return needs


# --- Docker: where, whether it answers, which sections are open -----------------------------


def _needs_line(needs: DockerNeeds) -> str:
    if not needs.sections:
        return "no enabled hook or plan uses Docker"
    users: list[str] = []
    for section in needs.ordered():
        for user in needs.sections[section]:
            if user not in users:
                users.append(user)
    parts = []
    for user in users:
        sections = [section for section in needs.ordered() if user in needs.sections[section]]
        parts.append(f"{user}: {', '.join(sections)}")
    return "; ".join(parts)


def _proxy_lines(needs: DockerNeeds) -> list[Check]:
    if not needs.sections:
        return []
    variables = {v for section in needs.sections for v in docker_client.PROXY_VARIABLES[section]}
    checks = [Check("proxy settings", True, docker_client.proxy_settings(variables), note=True)]
    allow = any(section in needs.sections for section in (START, STOP, RESTART))
    if allow:
        checks.append(Check("proxy note", True, PROXY_NOTES[0], note=True))
    if {"CONTAINERS", "POST"} <= variables:
        checks.append(Check("proxy note", True, PROXY_NOTES[1], note=True))
    if EXEC in needs.sections:
        checks.append(Check("proxy note", True, PROXY_NOTES[2], note=True))
    return checks


def _section_check(section: str, probe, missing: dict, needs: DockerNeeds) -> Check:
    needed = section in needs.sections
    if probe.allowed:
        return Check(section, True, "allowed", required=needed)
    if probe.denied:
        detail = f"denied by the socket proxy (403): enable {docker_client.enable_text(missing.get(section, ()))}"
    else:
        detail = probe.detail
    if not needed:
        detail += " (no enabled hook or plan needs it)"
    return Check(section, False, detail, required=needed)


def docker_checks(needs: DockerNeeds | None = None) -> list[Check]:
    needs = docker_needs() if needs is None else needs
    host = docker_client.docker_host()
    checks = [
        check_docker_cli(required=bool(needs.cli_users)),
        Check("docker host", True, docker_client.describe_host(), note=True),
    ]
    try:
        docker = docker_client.Docker.connect()
    except docker_client.DockerError as e:
        detail = str(e) + ("" if needs.sections else " (no enabled hook or plan needs Docker)")
        checks.append(Check("docker daemon", False, detail, required=bool(needs.sections)))
        probes = None
    else:
        with docker:
            try:
                version = docker.version()
            except docker_client.DockerError as e:
                version = f"answers; version unknown: {e}"
            checks.append(Check("docker daemon", True, version, required=bool(needs.sections)))
            probes = docker.probe_sections()
    if probes is not None:
        missing = docker_client.missing_proxy_variables(probes)
        checks += [_section_check(section, probes[section], missing, needs) for section in API_SECTIONS]
    checks.append(Check("hooks need", True, _needs_line(needs), note=True))
    checks += _proxy_lines(needs)
    checks += _hints(needs, host, probes)
    return checks


def _hints(needs: DockerNeeds, host: str, probes) -> list[Check]:
    hints = []
    if probes is not None and not needs.any:
        hints.append(NOT_NEEDED_HINT)
    for unchecked in needs.unchecked:
        hints.append(f"{unchecked}: not checked here (expose only the API sections it needs)")
    if probes is not None and needs.any:
        if host.startswith("unix://"):
            hints.append(
                "the Docker socket is host-level access; a socket proxy can expose only the sections hooks need"
            )
        else:
            extra = [section for section in API_SECTIONS if probes[section].allowed and section not in needs.sections]
            variables = {v for section in needs.sections for v in docker_client.PROXY_VARIABLES[section]}
            if {"CONTAINERS", "POST"} <= variables:
                # That pair opens every container write anyway (see the proxy note): only
                # exec, behind its own EXEC=1, can still be closed.
                extra = [section for section in extra if section == EXEC]
            if extra:
                hints.append(
                    f"allowed but not needed: {', '.join(extra)} — expose only the API sections your hooks need"
                )
    if host.startswith("tcp://"):
        hints.append("keep the socket proxy on an internal Docker network; never publish port 2375")
    return [Check("hint", True, hint, note=True) for hint in hints]


# --- remote sources (docs/remote-sources.md) -------------------------------------------------

SSHFS_MISSING = "sshfs: command not found — the image has it; elsewhere apt-get install sshfs fuse3"
FUSE_MISSING = (
    "missing or not usable: give the container devices: [/dev/fuse] and cap_add: [SYS_ADMIN] "
    "(compose.yaml, docs/remote-sources.md)"
)


def remote_source_checks() -> list[Check]:
    """sshfs and /dev/fuse, required (and shown) only when an enabled plan mounts its sources."""
    plans = list(
        BackupPlan.objects.filter(enabled=True, sources_on=SourcesOn.SOURCE)
        .order_by("name")
        .values_list("name", flat=True)
    )
    if not plans:
        return []
    users = f" (for plans {', '.join(plans)})"
    sshfs = shutil.which("sshfs")
    fuse_ok = os.access("/dev/fuse", os.R_OK | os.W_OK)
    return [
        Check("sshfs", bool(sshfs), (sshfs or SSHFS_MISSING) + users),
        Check("/dev/fuse", fuse_ok, ("usable" if fuse_ok else FUSE_MISSING) + users),
    ]


# --- the report -------------------------------------------------------------------------------


def system_report() -> list[Check]:
    try:
        needs, remote = docker_needs(), remote_source_checks()
    except Exception as e:  # no database: the database check says why
        needs, remote = DockerNeeds(), []
        database_problem = _first_line(str(e))
    else:
        database_problem = ""
    report = [check_borg(), check_database(), *remote, *docker_checks(needs)]
    if database_problem and report[1].ok:
        report.insert(2, Check("hooks", False, f"could not read the hooks: {database_problem}"))
    return report


def report_ok(report: list[Check]) -> bool:
    return all(check.ok for check in report if check.required and not check.note)


def format_report(report: list[Check]) -> list[str]:
    width = max(len(check.name) for check in report)
    return [f"{check.name:<{width}}  {check.label:<7} {check.detail}".rstrip() for check in report]


def report_as_dict(report: list[Check]) -> dict:
    """The report as plain data (for the worker's answer to the System page)."""
    return {
        "host": f"{socket.gethostname()}:{os.getpid()}",
        "checks": [{**asdict(check), "label": check.label} for check in report],
        "ok": report_ok(report),
    }
