"""compose.yaml and the Dockerfile say what README.md#docker-image and docs/docker-hooks.md say.

No image can be built or pulled here, so compose.yaml is validated by docker-compose itself.
"""

import os
import shutil
import subprocess
import sys
import tempfile

import pytest
import yaml

from tests.conftest import ROOT


def _compose_config(*args: str, file: str = "compose.yaml", env: dict | None = None) -> dict:
    if shutil.which("docker-compose") is None:
        pytest.fail("docker-compose not installed: run scripts/install-test-deps.sh as root")
    result = subprocess.run(
        ["docker-compose", "-f", str(ROOT / file), "--project-directory", str(ROOT), *args, "config"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "DOCKER_HOST": "unix:///nonexistent.sock", **(env or {})},
    )
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def _volume(entry) -> tuple[str, str, str]:
    """(source, target, mode) from either compose form: "src:dst:mode" or a mapping."""
    if isinstance(entry, str):
        source, target, *mode = entry.split(":")
        return source, target, (mode or ["rw"])[0]
    return entry["source"], entry["target"], "ro" if entry.get("read_only") else "rw"


def test_default_profile_is_borgui_and_postgres():
    config = _compose_config()
    started_by_default = [name for name, service in config["services"].items() if not service.get("profiles")]
    assert sorted(started_by_default) == ["borgui", "db"]
    borgui = config["services"]["borgui"]
    assert borgui["command"] == ["all"]
    assert borgui["environment"]["DATABASE_URL"].startswith("postgres://")
    targets = {_volume(volume)[1] for volume in borgui["volumes"]}
    assert {"/data", "/local/db-dumps"} <= targets
    assert "/var/run/docker.sock" not in targets, "the socket mount stays commented out by default"


def test_the_scale_out_example_runs_one_web_and_workers_with_shared_keys_and_repositories():
    """docs/scaling.md: the workers share the database, the keys and the repositories'
    path; each keeps its own data directory (the image's /data volume)."""
    keys = {"SECRET_KEY": "k" * 50, "BORGUI_ENCRYPTION_KEY": "e" * 44}
    config = _compose_config(file="docs/compose-scale.yaml", env=keys)
    web, worker = config["services"]["web"], config["services"]["worker"]
    assert (web["command"], worker["command"]) == (["web"], ["worker"])
    for name in ("DATABASE_URL", "SECRET_KEY", "BORGUI_ENCRYPTION_KEY"):
        assert web["environment"][name] == worker["environment"][name], name
    assert web["environment"]["SECRET_KEY"] == keys["SECRET_KEY"]
    repositories = {_volume(v)[0] for v in web["volumes"] if _volume(v)[1] == "/repositories"}
    assert repositories == {_volume(v)[0] for v in worker["volumes"] if _volume(v)[1] == "/repositories"}
    assert "/data" not in {_volume(v)[1] for v in worker["volumes"]}, "a shared data volume for every worker"
    assert "ports" not in worker


def test_socket_mount_is_documented_as_host_level_access():
    text = (ROOT / "compose.yaml").read_text()
    assert "# - /var/run/docker.sock:/var/run/docker.sock:rw" in text
    assert "host-level access" in text


def test_socket_proxy_profile_exactly_as_the_docs_page():
    config = _compose_config("--profile", "docker-socket-proxy")
    proxy = config["services"]["docker-socket-proxy"]
    assert proxy["profiles"] == ["docker-socket-proxy"]
    assert proxy["image"] == "ghcr.io/tecnativa/docker-socket-proxy:0.4.2"
    assert proxy["privileged"] is True
    assert proxy["restart"] == "unless-stopped"
    assert proxy["environment"] == {
        "CONTAINERS": "1", "INFO": "1", "POST": "1", "ALLOW_START": "1", "ALLOW_STOP": "1", "ALLOW_RESTARTS": "1",
    }  # fmt: skip
    assert [_volume(v) for v in proxy["volumes"]] == [("/var/run/docker.sock", "/var/run/docker.sock", "ro")]
    assert "ports" not in proxy, "port 2375 is never published"
    network = next(iter(proxy["networks"]))
    assert config["networks"][network]["internal"] is True
    assert network in config["services"]["borgui"]["networks"]


def test_dockerfile_pins_bookworm_and_runs_as_a_user_with_apt_through_sudo():
    text = (ROOT / "Dockerfile").read_text()
    assert "FROM python:3.11-slim-bookworm" in text
    for package in ("borgbackup", "openssh-client", "sudo"):
        assert package in text
    assert "python -m packages_admin.sudoers borgui > /etc/sudoers.d/borgui-apt" in text
    assert "visudo -cf /etc/sudoers.d/borgui-apt" in text
    assert 'ENTRYPOINT ["/usr/bin/tini", "--", "/app/docker/entrypoint.sh"]' in text
    assert 'CMD ["all"]' in text


def test_the_image_compiles_the_app_so_its_user_loads_bytecode_without_writing(tmp_path):
    # The Dockerfile's own compile step, on a copy of the app, as its build would run it;
    # then a module imported as an unprivileged user under PYTHONDONTWRITEBYTECODE=1.
    text = (ROOT / "Dockerfile").read_text()
    assert "ENV PYTHONDONTWRITEBYTECODE=1" in text
    step = next(line for line in text.splitlines() if line.startswith("RUN python -m compileall"))
    assert text.index("COPY . .") < text.index(step)
    app = tempfile.mkdtemp(prefix="borgui-image-app-")
    try:
        os.chmod(app, 0o755)
        shutil.copytree(ROOT / "borgui", os.path.join(app, "borgui"), ignore=shutil.ignore_patterns("__pycache__"))
        command = step.removeprefix("RUN ").replace("python", sys.executable, 1).replace("/app", app)
        subprocess.run(command, shell=True, check=True)
        loaded = subprocess.run(
            [
                "setpriv",
                "--reuid=nobody",
                "--regid=nogroup",
                "--clear-groups",
                sys.executable,
                "-v",
                "-c",
                "import borgui.env",
            ],
            cwd=app,
            env={"PATH": os.environ["PATH"], "PYTHONPATH": app, "PYTHONDONTWRITEBYTECODE": "1"},
            capture_output=True,
            text=True,
            check=True,
        )
        cached = os.path.join(app, "borgui", "__pycache__", f"env.{sys.implementation.cache_tag}.pyc")
        assert f"code object from '{cached}'" in loaded.stderr
    finally:
        shutil.rmtree(app)
