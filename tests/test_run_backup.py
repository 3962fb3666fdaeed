"""`manage.py run_backup PLAN [--repository NAME]` (docs/commands.md#run_backup), against real borg."""

import subprocess
import sys

import pytest

from repositories.models import PlanRun, RepositoryJob
from tests.conftest import ROOT
from tests.factories import make_plan, make_repository, make_source_tree

pytestmark = pytest.mark.django_db(transaction=True)


def _archives(repository) -> list[str]:
    from repositories import borg

    return [archive["name"] for archive in borg.list_archives(repository).json()["archives"]]


@pytest.fixture
def source(tmp_path):
    return make_source_tree(tmp_path / "src")


def test_success_prints_progress_and_ends_with_the_status_line(manage, tmp_path, source):
    repository = make_repository(tmp_path / "repo", encryption="repokey-blake2")
    make_plan("nightly", [repository], [source])
    result = manage("run_backup", "nightly")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1] == "status: success"
    assert any(line.startswith("progress: ") for line in lines)
    job = RepositoryJob.objects.get()
    assert job.status == "success" and job.borg_exit_code == 0
    assert job.archive_name.startswith("nightly-") and _archives(repository) == [job.archive_name]
    assert job.nfiles == 5 and job.original_size >= 5000 and job.deduplicated_size > 0
    assert job.run.trigger == "cli" and job.run.finished is not None
    assert f"main: success — archive {job.archive_name} — 5 files" in result.stdout


def test_missing_source_path_is_a_warning(manage, tmp_path, source):
    repository = make_repository(tmp_path / "repo")
    make_plan("nightly", [repository], [source, tmp_path / "does-not-exist"])
    result = manage("run_backup", "nightly")
    assert result.returncode == 1
    assert result.stdout.splitlines()[-1] == "status: warning"
    job = RepositoryJob.objects.get()
    assert job.borg_exit_code == 1 and job.status == "warning"
    assert "does-not-exist" in job.log


def test_uninitialised_repository_is_a_failure_with_borgs_reason(manage, tmp_path, source):
    repository = make_repository(tmp_path / "nowhere", init=False)
    make_plan("nightly", [repository], [source])
    result = manage("run_backup", "nightly")
    assert result.returncode == 2
    assert result.stdout.splitlines()[-1] == "status: failure"
    assert "does not exist" in PlanRun.objects.get().log
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["no-such-plan"], "CommandError: no backup plan named 'no-such-plan'"),
        (["nightly", "--repository", "other"], "CommandError: plan 'nightly' has no repository named 'other'"),
    ],
)
def test_usage_errors_exit_2_without_a_status_line(manage, tmp_path, source, args, message):
    make_plan("nightly", [make_repository(tmp_path / "repo", init=False)], [source])
    result = manage("run_backup", *args)
    assert result.returncode == 2
    assert result.stderr.strip() == message
    assert "status:" not in result.stdout
    assert PlanRun.objects.count() == 0


def test_repository_option_backs_up_to_that_repository_only(manage, tmp_path, source):
    first = make_repository(tmp_path / "one", name="one")
    second = make_repository(tmp_path / "two", name="two")
    make_plan("nightly", [first, second], [source])
    result = manage("run_backup", "nightly", "--repository", "two")
    assert result.returncode == 0, result.stdout
    assert [job.repository.name for job in RepositoryJob.objects.all()] == ["two"]
    assert _archives(first) == [] and len(_archives(second)) == 1


def test_an_existing_archive_name_gets_a_numbered_suffix(manage, tmp_path, source):
    repository = make_repository(tmp_path / "repo")
    make_plan("yearly", [repository], [source], archive_name="{plan}-{now:%Y}")
    assert manage("run_backup", "yearly").returncode == 0
    assert manage("run_backup", "yearly").returncode == 0
    names = sorted(_archives(repository))
    assert len(names) == 2 and names[1] == names[0] + ".2"


def test_archive_name_uses_the_plans_timezone(manage, tmp_path, source):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    repository = make_repository(tmp_path / "repo")
    make_plan(
        "kiribati", [repository], [source], timezone="Pacific/Kiritimati", archive_name="{plan}-{now:%Y-%m-%dT%H}"
    )
    assert manage("run_backup", "kiribati").returncode == 0
    expected_hours = {
        datetime.now(ZoneInfo("Pacific/Kiritimati")).strftime("%Y-%m-%dT%H"),
    }
    assert RepositoryJob.objects.get().archive_name.removeprefix("kiribati-") in expected_hours


@pytest.mark.parametrize(
    ("policy", "second_status", "exit_code"),
    [("stop", "skipped", 2), ("continue", "success", 2)],
)
def test_on_repository_failure(manage, tmp_path, source, policy, second_status, exit_code):
    broken = make_repository(tmp_path / "missing", name="broken", init=False)
    good = make_repository(tmp_path / "good", name="good")
    make_plan("nightly", [broken, good], [source], on_repository_failure=policy)
    result = manage("run_backup", "nightly")
    assert result.returncode == exit_code
    jobs = {job.repository.name: job for job in RepositoryJob.objects.all()}
    assert jobs["broken"].status == "failure"
    assert jobs["good"].status == second_status
    if policy == "stop":
        assert jobs["good"].reason == "not reached: on_repository_failure is stop and broken failed"
        assert _archives(good) == []


def test_a_plan_already_running_is_refused(manage, tmp_path, source):
    repository = make_repository(tmp_path / "repo")
    plan = make_plan("nightly", [repository], [source])
    PlanRun.objects.create(plan=plan, trigger="admin", status="running")
    result = manage("run_backup", "nightly")
    assert result.returncode == 2
    assert "plan nightly is already running" in result.stderr


def test_ctrl_c_cancels_cleanly(subprocess_env, tmp_path):
    """First Ctrl-C stops borg, the run ends failure/cancelled and the repository is usable."""
    import signal
    import sys
    import time

    from tests.conftest import ROOT
    from tests.factories import SLOW_COMPRESSION, SLOW_TREE

    source = make_source_tree(tmp_path / "big", **SLOW_TREE)
    repository = make_repository(tmp_path / "repo")
    make_plan("slow", [repository], [source], compression=SLOW_COMPRESSION)
    process = subprocess.Popen(
        [sys.executable, "manage.py", "run_backup", "slow"],
        cwd=ROOT,
        env=subprocess_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while not RepositoryJob.objects.filter(status="running").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 2, out + err
    assert out.splitlines()[-1] == "status: failure"
    run = PlanRun.objects.get()
    assert (run.status, run.reason) == ("failure", "cancelled")
    assert subprocess.run(["pgrep", "-f", f"borg.*{tmp_path}"], capture_output=True).stdout == b""
    # borg released its lock: the next backup of the same repository just works
    from repositories import borg

    assert borg.check(repository).ok


def test_start_up_loads_neither_the_hook_engine_nor_the_docker_sdk(subprocess_env):
    # Every command pays for what django.setup() imports; the engine and the Docker SDK
    # load on a plan's first run, so check_system, recover_runs and --help start faster.
    probe = (
        "import sys, django; django.setup(); "
        "print(sorted(m for m in ('hooks.services.engine', 'docker', 'repositories.services.containers') "
        "if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], env=subprocess_env, capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert result.stdout.strip() == "[]"
