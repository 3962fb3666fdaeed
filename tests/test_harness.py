"""The real parts the suite stands on answer as a user's machine would."""

import shutil
import subprocess
import time

import docker


def test_borg_is_the_real_binary():
    result = subprocess.run(["borg", "--version"], capture_output=True, text=True, check=True)
    assert result.stdout.startswith("borg 1.")


def test_private_dockerd_runs_busybox_containers_that_stop_at_once(docker_host):
    client = docker.DockerClient(base_url=docker_host.host)
    assert client.version()["Version"]
    docker_host.run_container("harness-probe")
    assert docker_host.state("harness-probe") == "running"
    started = time.monotonic()
    docker_host.docker("stop", "harness-probe")
    assert time.monotonic() - started < 5, "--init makes busybox stop without the 10 s grace period"
    assert docker_host.state("harness-probe") == "exited"


def test_sshd_accepts_the_throwaway_user_key(sshd):
    result = subprocess.run(sshd.ssh_command("echo", "hello"), capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "hello\n"
    assert sshd.known_hosts.startswith(f"[127.0.0.1]:{sshd.port} ssh-ed25519 ")


def test_chromium_is_debians():
    assert shutil.which("chromium")


def test_postgres_harness_sees_this_session_as_a_user_of_the_cluster(db):
    from django.db import connection

    from tests.harness.postgres import PostgresCluster

    connection.ensure_connection()
    # The check that keeps the cluster up for other suites must count this one's connection.
    assert PostgresCluster()._other_sessions_connected() is True
