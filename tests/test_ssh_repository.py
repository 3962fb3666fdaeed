"""A repository on another machine: ssh://user@host:port/path through the test sshd.

The connection's private key and known-hosts entry come from borgui's database; they
reach ssh through private temp files named in BORG_RSH, never on a command line.
"""

import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from django.conf import settings

from repositories import borg
from repositories.models import BackupPlan, PlanRepository, PlanRun, Repository, SSHConnection
from tests.conftest import ROOT

pytestmark = pytest.mark.django_db(transaction=True)

PASSPHRASE = "ssh-repo-passphrase-5r8t"


@pytest.fixture
def source_tree(tmp_path):
    root = tmp_path / "src"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("over ssh\n")
    (root / "sub" / "b.bin").write_bytes(os.urandom(50_000))
    return root


def make_connection(sshd, known_hosts: str) -> SSHConnection:
    return SSHConnection.objects.create(
        name="test-sshd",
        host="127.0.0.1",
        port=sshd.port,
        username=sshd.user,
        private_key=sshd.private_key,
        known_hosts=known_hosts,
    )


def make_repository(sshd, tmp_path) -> Repository:
    return Repository.objects.create(
        name="remote",
        location=f"ssh://{sshd.user}@127.0.0.1:{sshd.port}{tmp_path}/repo",
        encryption="repokey-blake2",
        passphrase=PASSPHRASE,
    )


def make_plan(repository: Repository, source: Path) -> BackupPlan:
    plan = BackupPlan.objects.create(name="offsite", sources=[str(source)])
    PlanRepository.objects.create(plan=plan, repository=repository)
    return plan


def key_material(private_key: str) -> list[str]:
    """The base64 lines of an OpenSSH private key: none may show on a command line."""
    return [line for line in private_key.splitlines() if line and not line.startswith("-----")]


def other_host_key_line(sshd, tmp_path) -> str:
    """A well-formed known-hosts line for this host and port, but with another machine's key."""
    path = tmp_path / "impostor_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    key_type, key = path.with_suffix(".pub").read_text().split()[:2]
    return f"[127.0.0.1]:{sshd.port} {key_type} {key}"


def run_backup_watching_command_lines(env: dict, plan: str) -> tuple[subprocess.CompletedProcess, set]:
    """`manage.py run_backup PLAN`, reading every process's command line while it runs."""
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "run_backup", plan],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen: set[tuple[str, ...]] = set()
    deadline = time.monotonic() + 120
    while process.poll() is None and time.monotonic() < deadline:
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                raw = (proc / "cmdline").read_bytes()
            except OSError:
                continue
            if raw:
                seen.add(tuple(part.decode(errors="replace") for part in raw.rstrip(b"\0").split(b"\0")))
        time.sleep(0.005)
    stdout, stderr = process.communicate(timeout=30)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr), seen


def test_backup_to_an_ssh_repository(sshd, tmp_path, source_tree, subprocess_env):
    make_connection(sshd, sshd.known_hosts)
    repository = make_repository(sshd, tmp_path)
    result = borg.init(repository)
    assert result.ok, result.log_lines
    assert (tmp_path / "repo" / "config").exists()  # borg serve made it on the "remote" side
    plan = make_plan(repository, source_tree)

    backup, command_lines = run_backup_watching_command_lines(subprocess_env, plan.name)
    assert backup.returncode == 0, backup.stdout + backup.stderr
    assert backup.stdout.strip().splitlines()[-1] == "status: success"
    job = PlanRun.objects.get(plan=plan).jobs.get()
    assert job.status == "success" and job.nfiles == 2

    listing = borg.list_archives(repository)
    assert listing.ok, listing.log_lines
    assert [archive["name"] for archive in listing.json()["archives"]] == [job.archive_name]

    # borg reached the server through ssh with the connection's key from a temp file ...
    ssh_lines = [line for line in command_lines if line and Path(line[0]).name == "ssh" and str(sshd.port) in line]
    assert ssh_lines, "no ssh process to the test server was seen during the backup"
    key_paths = {line[line.index("-i") + 1] for line in ssh_lines if "-i" in line}
    assert key_paths, ssh_lines
    for key_path in key_paths:
        assert Path(key_path).parent.name.startswith("borgui-")
        assert Path(key_path).is_relative_to(tempfile.gettempdir())
        # ... that is gone once the backup is over.
        assert not Path(key_path).exists()
        assert not Path(key_path).parent.exists()
    # No secret on any command line of any process while the backup ran.
    everything = "\n".join(" ".join(line) for line in command_lines)
    assert PASSPHRASE not in everything
    for secret_line in key_material(sshd.private_key):
        assert secret_line not in everything


def test_borg_rsh_names_private_temp_files(sshd, tmp_path):
    make_connection(sshd, sshd.known_hosts)
    repository = make_repository(sshd, tmp_path)
    with borg.borg_environment(repository) as (env, workdir):
        rsh = shlex.split(env["BORG_RSH"])
        assert rsh[0] == "ssh"
        key_file = Path(rsh[rsh.index("-i") + 1])
        assert key_file.parent == workdir
        assert key_file.read_text().strip() == sshd.private_key.strip()
        assert key_file.stat().st_mode & 0o777 == 0o600
        assert "StrictHostKeyChecking=yes" in rsh
        assert Path(rsh[rsh.index("-E") + 1]).parent == workdir  # ssh's own messages, read back after
        # Quoted for ssh, which splits option values on spaces.
        known_hosts = Path(next(o.split("=", 1)[1] for o in rsh if o.startswith("UserKnownHostsFile=")).strip('"'))
        assert known_hosts.read_text().strip() == sshd.known_hosts
        for secret_line in key_material(sshd.private_key):
            assert secret_line not in env["BORG_RSH"]
    assert not key_file.exists() and not workdir.exists()


def test_wrong_host_key_fails_the_backup_with_a_clear_message(sshd, tmp_path, source_tree, manage):
    connection = make_connection(sshd, sshd.known_hosts)
    repository = make_repository(sshd, tmp_path)
    assert borg.init(repository).ok
    plan = make_plan(repository, source_tree)
    # The server now presents a key other than the pinned one (or someone is in between).
    connection.known_hosts = other_host_key_line(sshd, tmp_path)
    connection.save()

    backup = manage("run_backup", plan.name)
    assert backup.returncode == 2, backup.stdout + backup.stderr
    assert backup.stdout.strip().splitlines()[-1] == "status: failure"
    run = PlanRun.objects.get(plan=plan)
    job = run.jobs.get()
    assert run.status == "failure" and job.status == "failure"
    # The job's log has ssh's whole warning.
    assert "REMOTE HOST IDENTIFICATION HAS CHANGED!" in job.log
    assert f"ssh: Host key for [127.0.0.1]:{sshd.port} has changed and you have requested strict checking." in job.log
    # The run's own log (and the terminal) gives the reason in the line that reports the failure.
    assert (
        "remote: ERROR: Connection closed by remote host. Is borg working on the server? "
        "(ssh: Host key verification failed.)" in run.log
    )
    assert "(ssh: Host key verification failed.)" in backup.stdout
    for text in (run.log, job.log, backup.stdout, backup.stderr):
        assert "Traceback" not in text
    # With the right key back, the repository is fine and holds no archive from that run.
    connection.known_hosts = sshd.known_hosts
    connection.save()
    listing = borg.list_archives(repository)
    assert listing.ok, listing.log_lines
    assert listing.json()["archives"] == []


def test_without_known_hosts_the_first_key_is_pinned(sshd, tmp_path):
    connection = make_connection(sshd, "")
    repository = make_repository(sshd, tmp_path)
    result = borg.init(repository)
    assert result.ok, result.log_lines
    pinned = Path(settings.DATA_DIR) / "ssh" / f"known_hosts.{connection.pk}"
    key_type, key = sshd.known_hosts.split()[1:3]
    assert f"{key_type} {key}" in pinned.read_text()
    # Pinned: a server that later shows another key is refused.
    pinned.write_text(other_host_key_line(sshd, tmp_path) + "\n")
    result = borg.info(repository)
    assert not result.ok
    assert result.error_line().endswith("(ssh: Host key verification failed.)"), result.error_line()
