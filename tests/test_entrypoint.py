"""The image's entrypoint, run directly (no image can be built here): the same script
`make run` uses."""

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.harness.net import free_port, wait_for

ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"


@pytest.fixture
def fresh_env(tmp_path):
    """A new install: SQLite in an empty data dir, no keys given, python from this venv."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SECRET_KEY", "BORGUI_", "DATABASE_URL"))}
    env.update(BORGUI_DATA_DIR=str(tmp_path / "data"), PYTHON=sys.executable)
    return env


def test_prepare_creates_keys_database_and_admin_once(fresh_env, tmp_path):
    first = subprocess.run([ENTRYPOINT, "prepare"], env=fresh_env, capture_output=True, text=True, timeout=180)
    assert first.returncode == 0, first.stderr
    data = tmp_path / "data"
    for key_file in ("secret_key", "encryption.key"):
        assert (data / key_file).stat().st_mode & 0o777 == 0o600
    assert "created admin user 'admin' with password: " in first.stdout
    users = sqlite3.connect(data / "borgui.sqlite3").execute("SELECT username, is_superuser FROM auth_user").fetchall()
    assert users == [("admin", 1)]

    keys_before = (data / "encryption.key").read_text()
    second = subprocess.run([ENTRYPOINT, "prepare"], env=fresh_env, capture_output=True, text=True, timeout=180)
    assert second.returncode == 0, second.stderr
    assert "created" not in second.stdout
    assert (data / "encryption.key").read_text() == keys_before


def test_admin_password_from_the_environment_is_never_printed(fresh_env):
    fresh_env["BORGUI_ADMIN_PASSWORD"] = "s3cret-from-env"
    result = subprocess.run([ENTRYPOINT, "prepare"], env=fresh_env, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    assert "s3cret-from-env" not in result.stdout + result.stderr
    assert "with the password from BORGUI_ADMIN_PASSWORD" in result.stdout


@pytest.fixture
def world_readable_dir():
    # pytest's tmp_path lives in a 0700 folder that another user cannot enter.
    path = Path(tempfile.mkdtemp(prefix="borgui-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_all_serves_the_web_and_runs_a_worker_until_stopped(fresh_env):
    port = free_port()
    fresh_env["BIND"] = f"127.0.0.1:{port}"
    process = subprocess.Popen(
        [ENTRYPOINT, "all"], env=fresh_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:

        def healthy():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                    return response.status == 200
            except OSError:
                return False

        wait_for(healthy, 120, "gunicorn to answer /healthz")
        worker = wait_for(
            lambda: subprocess.run(["pgrep", "-s", str(process.pid), "-f", "qcluster"], capture_output=True).stdout,
            60,
            "the qcluster worker",
        )
        assert worker
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0 or process.returncode in (-signal.SIGTERM, 143)
        wait_for(
            lambda: subprocess.run(["pgrep", "-s", str(process.pid)], capture_output=True).returncode == 1,
            30,
            "gunicorn and qcluster to exit",
        )
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.mark.skipif(os.geteuid() != 0, reason="the privilege drop is what the image does as root")
def test_root_start_drops_to_the_app_user_with_the_docker_sockets_group(world_readable_dir):
    tmp_path = world_readable_dir
    # A world-readable copy: the dropped user must be able to read the script it re-runs.
    app = tmp_path / "app"
    (app / "docker").mkdir(parents=True, mode=0o755)
    shutil.copy(ENTRYPOINT, app / "docker" / "entrypoint.sh")
    docker_socket = tmp_path / "docker.sock"
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(docker_socket))
        os.chown(docker_socket, -1, 4242)
        data = tmp_path / "data"
        env = {
            "PATH": os.environ["PATH"],
            "BORGUI_RUN_AS": "nobody",
            "BORGUI_DATA_DIR": str(data),
            "DOCKER_HOST": f"unix://{docker_socket}",
        }
        result = subprocess.run(
            [app / "docker" / "entrypoint.sh", "sh", "-c", "id -u; id -G"], env=env, capture_output=True, text=True
        )
    assert result.returncode == 0, result.stderr
    uid, groups = result.stdout.splitlines()
    assert uid == "65534"
    assert "4242" in groups.split()
    assert "0" not in groups.split(), "root's groups must not survive the drop"
    assert data.stat().st_uid == 65534
