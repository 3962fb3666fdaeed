"""`manage.py check_system`: what borgui needs on this machine, one line per check."""

import shutil

import pytest

from system.report import DOCKER_CLI_MISSING


@pytest.fixture
def path_without(tmp_path):
    """A PATH holding only the named tools (so a tool can be taken away for one test)."""

    def build(*tools: str) -> str:
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir(exist_ok=True)
        for tool in tools:
            (bin_dir / tool).symlink_to(shutil.which(tool))
        return str(bin_dir)

    return build


def test_reports_borg_database_and_docker_cli(manage):
    result = manage("check_system")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["borg", "ok", "borg"]
    assert lines[1].startswith("database") and "PostgreSQL 15." in lines[1]
    assert lines[2].startswith("docker CLI") and " ok " in lines[2]


def test_docker_cli_missing_gives_the_troubleshooting_text(manage, path_without):
    result = manage("check_system", env={"PATH": path_without("borg")})
    assert result.returncode == 0, "the CLI is only needed once a hook uses it"
    assert DOCKER_CLI_MISSING in result.stdout
    assert DOCKER_CLI_MISSING == (
        "docker: command not found — install docker.io from Packages, or use an image that includes the Docker CLI"
    )


def test_missing_borg_fails_with_one_line(manage, path_without):
    result = manage("check_system", env={"PATH": path_without("docker")})
    assert result.returncode == 1
    assert "borg: command not found — install borgbackup" in result.stdout
    assert result.stderr.strip() == "CommandError: not ready: borg"
    assert "Traceback" not in result.stderr


def test_a_configured_borg_binary_that_is_gone_fails_even_with_borg_on_path(manage, tmp_path):
    # Backups run BORGUI_BORG_BINARY: a borg elsewhere on PATH must not make the check pass.
    gone = tmp_path / "removed" / "borg"
    result = manage("check_system", env={"BORGUI_BORG_BINARY": str(gone)})
    assert shutil.which("borg"), "the suite's borg is on PATH"
    assert result.returncode == 1
    borg_line = result.stdout.splitlines()[0]
    assert borg_line.split()[:2] == ["borg", "FAILED"]
    assert f"BORGUI_BORG_BINARY={gone}: not found — install borgbackup or fix the path" in borg_line
    assert result.stderr.strip() == "CommandError: not ready: borg"


def test_unreachable_database_is_reported_not_raised(manage):
    result = manage("check_system", env={"DATABASE_URL": "postgres://nobody:x@127.0.0.1:1/none"})
    assert result.returncode == 1
    assert "database" in result.stdout and "FAILED" in result.stdout
    assert "Traceback" not in result.stderr
