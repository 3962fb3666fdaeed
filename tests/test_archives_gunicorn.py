"""A download that takes longer than gunicorn's worker timeout is not cut (docs/archives.md):
the image's web server (docker/entrypoint.sh `web`) with a 2-second timeout, and a client
that reads a streamed file slowly for several seconds."""

import hashlib
import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from repositories.models import RepositoryHold
from tests.archivekit import indexed_archive
from tests.conftest import ROOT
from tests.factories import make_repository
from tests.harness.net import free_port, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_slow_download_outlives_the_worker_timeout(subprocess_env, client, admin, tmp_path):
    repository = make_repository(tmp_path / "repo")
    source = tmp_path / "src"
    source.mkdir()
    data = os.urandom(12_000_000)
    (source / "big.bin").write_bytes(data)
    found = indexed_archive(repository, source, "a1")
    client.force_login(admin)
    session = client.cookies["sessionid"].value

    port = free_port()
    env = {
        **subprocess_env,
        "BIND": f"127.0.0.1:{port}",
        "WEB_TIMEOUT": "2",
        "WEB_CONCURRENCY": "1",
        "PYTHON": sys.executable,
    }
    server = subprocess.Popen(
        [ROOT / "docker" / "entrypoint.sh", "web"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    try:
        wait_for(lambda: _answers(port) or server.poll() is not None, 120, "gunicorn to answer /healthz")
        assert server.poll() is None, server.stdout.read().decode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/admin/archives/archive/{found.pk}/download/?path=big.bin",
            headers={"Cookie": f"sessionid={session}"},
        )
        started, digest, received = time.monotonic(), hashlib.sha256(), 0
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.headers["Content-Length"] == str(len(data))
            while chunk := response.read(512 * 1024):
                digest.update(chunk)
                received += len(chunk)
                time.sleep(0.25)
        assert time.monotonic() - started > 4  # twice the worker timeout at least
        assert received == len(data) and digest.digest() == hashlib.sha256(data).digest()

        # A browser that goes away: borg stops, and the repository's lease is given back.
        response = urllib.request.urlopen(request, timeout=30)
        response.read(64 * 1024)
        assert _borg_running(tmp_path)
        response.close()
        wait_for(lambda: not _borg_running(tmp_path), 30, "borg to stop after the client went away")
        wait_for(lambda: not RepositoryHold.objects.exists(), 30, "the download's lease to be given back")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)


def _borg_running(tmp_path) -> bool:
    return bool(subprocess.run(["pgrep", "-f", f"borg.*extract.*{tmp_path}"], capture_output=True).stdout)


def _answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False
