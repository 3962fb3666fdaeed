"""Hooks with execution target `source` run on the source host over SSH (docs/hooks.md#on-the-source-host-over-ssh)."""

import pytest

from repositories.models import SSHConnection
from repositories.services import runs
from tests.factories import make_plan, make_repository, make_source_tree
from tests.hookkit import attach, make_script

pytestmark = pytest.mark.django_db(transaction=True)

REMOTE_ENV = """#!/bin/sh
env | grep -E '^(BORG_UI_|CONTAINER_NAME=|LOCAL_ONLY=)' | sort
echo "host: $(hostname)"
"""


@pytest.fixture
def source_host(sshd):
    return SSHConnection.objects.create(
        name="source",
        host=sshd.host,
        port=sshd.port,
        username=sshd.user,
        private_key=sshd.private_key,
        known_hosts=sshd.known_hosts,
    )


def test_remote_hook_gets_only_borg_ui_variables_and_parameters(tmp_path, source_host, sshd, monkeypatch):
    monkeypatch.setenv("LOCAL_ONLY", "must-not-travel")
    repository = make_repository(tmp_path / "repo")
    repository.source_connection = source_host
    repository.save()
    plan = make_plan("nightly", [repository], [make_source_tree(tmp_path / "src")])
    script = make_script("remote", REMOTE_ENV, {"CONTAINER_NAME": "db1"}, execution_target="source")
    attach(repository, script, "pre-backup")
    run = runs.run_in_foreground(plan)
    execution = run.hook_executions.get()
    assert execution.succeeded, (execution.error, execution.stderr)
    job = run.jobs.get()
    lines = execution.stdout.splitlines()
    assert lines[:-1] == sorted(
        [
            "BORG_UI_HOOK_TYPE=pre-backup",
            f"BORG_UI_JOB_ID={job.pk}",
            f"BORG_UI_REMOTE_HOST={sshd.host}",
            f"BORG_UI_REMOTE_PORT={sshd.port}",
            f"BORG_UI_REMOTE_USERNAME={sshd.user}",
            f"BORG_UI_REPOSITORY_ID={repository.pk}",
            "BORG_UI_REPOSITORY_NAME=main",
            f"BORG_UI_REPOSITORY_PATH={tmp_path / 'repo'}",
            "CONTAINER_NAME=db1",
        ]
    )
    assert job.status == "success"


def test_source_target_without_a_source_connection_fails_clearly(tmp_path):
    repository = make_repository(tmp_path / "repo")
    plan = make_plan("nightly", [repository], [make_source_tree(tmp_path / "src")])
    attach(repository, make_script("remote", REMOTE_ENV, execution_target="source"), "pre-backup")
    run = runs.run_in_foreground(plan)
    assert run.hook_executions.get().error == "script remote runs on the source host, but no source connection is set"
    assert run.jobs.get().status == "failure"


def test_wrong_host_key_refuses_to_run_the_hook(tmp_path, source_host):
    import subprocess

    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    key_type, key = other.with_suffix(".pub").read_text().split()[:2]
    source_host.known_hosts = f"[{source_host.host}]:{source_host.port} {key_type} {key}"
    source_host.save()
    marker = tmp_path / "ran"
    repository = make_repository(tmp_path / "repo")
    repository.source_connection = source_host
    repository.save()
    plan = make_plan("nightly", [repository], [make_source_tree(tmp_path / "src")])
    attach(repository, make_script("remote", f"#!/bin/sh\ntouch {marker}\n", execution_target="source"), "pre-backup")
    run = runs.run_in_foreground(plan)
    execution = run.hook_executions.get()
    assert not execution.succeeded
    assert "Host key verification failed" in execution.error + execution.stderr
    assert not marker.exists()
    assert run.jobs.get().status == "failure"
