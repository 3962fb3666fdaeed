"""Live progress with a time left (docs/dashboard.md#progress): the estimate, the JSON
views and run_backup's terminal line, with real borg backups."""

import os
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from repositories.models import PlanRun, RepositoryJob
from repositories.progress import RUNNING_CAP, Baseline, estimate
from repositories.services import runs
from tests.conftest import ROOT
from tests.factories import SLOW_COMPRESSION, SLOW_TREE, make_plan, make_repository, make_source_tree

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
FULL = Baseline(nfiles=100, original_size=1_000_000)


# --- the estimate (pure) -------------------------------------------------------------------


def test_half_the_previous_size_in_ten_seconds_leaves_ten_seconds():
    result = estimate(40, 500_000, T0, T0 + timedelta(seconds=10), FULL, now=T0 + timedelta(seconds=11))
    assert result.percent == 50.0
    assert result.rate == 50_000
    assert result.time_left == timedelta(seconds=10)
    assert result.elapsed == timedelta(seconds=11)
    assert result.text() == "50 % — 40 files, 500.0 kB, 50.0 kB/s, 11 s elapsed, 10 s left"


def test_more_than_the_previous_archive_stays_below_100_while_running():
    result = estimate(120, 1_500_000, T0, T0 + timedelta(seconds=30), FULL, now=T0 + timedelta(seconds=30))
    assert result.percent == RUNNING_CAP
    assert result.time_left is None
    assert "time left unknown" in result.text()


def test_a_finished_job_is_100_percent_with_nothing_left():
    result = estimate(100, 990_000, T0, T0 + timedelta(seconds=5), FULL, now=T0 + timedelta(seconds=6), finished=True)
    assert (result.percent, result.time_left, result.finished) == (100.0, None, True)
    assert "left" not in result.text()


def test_without_a_previous_archive_there_is_no_percentage_only_what_was_read():
    result = estimate(7, 2_000, T0, T0 + timedelta(seconds=2), Baseline(None, None), now=T0 + timedelta(seconds=2))
    assert result.percent is None and result.time_left is None
    assert result.text() == "7 files, 2.0 kB, 1.0 kB/s, 2 s elapsed"


def test_an_empty_previous_archive_counts_files():
    result = estimate(5, 0, T0, T0 + timedelta(seconds=2), Baseline(nfiles=10, original_size=0), now=T0)
    assert result.percent == 50.0 and result.rate is None and result.time_left is None


def test_before_borg_has_started_nothing_is_measured():
    result = estimate(0, 0, None, None, FULL, now=T0)
    assert (result.percent, result.rate, result.elapsed, result.time_left) == (0.0, None, None, None)


# --- with real backups ------------------------------------------------------------------------


def _previous_backup(tmp_path):
    """A plan with one finished (fast) backup, the baseline of its next run, which is slow:
    the same files with new contents (borg's files cache cannot skip them), compressed hard."""
    repository = make_repository(tmp_path / "repo")
    source = make_source_tree(tmp_path / "big", **SLOW_TREE)
    plan = make_plan("slow", [repository], [source], compression="lz4")
    first = runs.run_in_foreground(plan)
    assert first.status == "success", first.log
    make_source_tree(source, **SLOW_TREE)
    plan.compression = SLOW_COMPRESSION
    plan.save()
    return plan, repository, source


def _poll_while_running(client, url: str, deadline: float) -> list[dict]:
    seen = []
    while time.monotonic() < deadline:
        data = client.get(url).json()
        jobs = [job for run in data["runs"] for job in run["jobs"]]
        seen.extend(job for job in jobs if job["status"] == "running" and job["files"])
        if seen and not data["active"]:
            return seen
        time.sleep(0.3)
    return seen


@contextmanager
def backup_in_background(plan):
    """A real backup of PLAN on a thread of this process while the block reads its progress;
    the block's result["run"] is the finished run once the block ends."""
    result = {}

    def backup():
        try:
            result["run"] = runs.run_in_foreground(plan)
        finally:
            connection.close()

    worker = threading.Thread(target=backup)
    worker.start()
    try:
        yield result
    finally:
        worker.join(180)


@pytest.mark.django_db(transaction=True)
def test_a_second_backup_shows_a_rising_percentage_and_time_left_then_100(client, admin, tmp_path):
    plan, repository, source = _previous_backup(tmp_path)
    client.force_login(admin)
    with backup_in_background(plan) as result:
        deadline = time.monotonic() + 120
        while not PlanRun.objects.filter(plan=plan, status="running").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        running = PlanRun.objects.get(plan=plan, status="running")
        url = reverse("admin:repositories_planrun_progress", args=[running.pk])
        seen = _poll_while_running(client, url, deadline)
    assert result["run"].status == "success"
    assert seen, "no progress was seen while borg ran"
    percents = [job["percent"] for job in seen]
    assert all(0 <= p <= RUNNING_CAP for p in percents) and percents == sorted(percents)
    assert any(job["time_left_seconds"] is not None and job["rate"] for job in seen)
    files = {job["current_file"] for job in seen}
    assert any(str(source).lstrip("/") in name for name in files), files
    final = client.get(url).json()
    assert final["active"] == [] and final["runs"][0]["status"] == "success"
    assert final["runs"][0]["jobs"][0]["percent"] == 100.0


@pytest.mark.django_db(transaction=True)
def test_the_first_backup_of_a_plan_has_no_percentage(client, admin, tmp_path):
    repository = make_repository(tmp_path / "repo")
    plan = make_plan("first", [repository], [make_source_tree(tmp_path / "src")])
    run = runs.run_in_foreground(plan)
    client.force_login(admin)
    job = client.get(reverse("admin:repositories_planrun_progress", args=[run.pk])).json()["runs"][0]["jobs"][0]
    assert job["percent"] is None and job["files"] == 5 and job["finished"]
    assert RepositoryJob.objects.get().progress_started is not None


def _running_runs(plan, repository, count: int):
    for _ in range(count):
        run = PlanRun.objects.create(plan=plan, trigger="admin", status="running", started=T0)
        RepositoryJob.objects.create(
            run=run, repository=repository, status="running", progress_files=3, progress_bytes=1000,
            progress_started=T0, progress_updated=T0 + timedelta(seconds=1),
        )  # fmt: skip


@pytest.mark.django_db
def test_the_json_views_cost_the_same_queries_for_1_or_20_running_runs(client, admin, tmp_path):
    repository = make_repository(tmp_path / "repo", init=False)
    plan = make_plan("many", [repository], [tmp_path])
    client.force_login(admin)
    url = reverse("dashboard_progress")

    def cost(target):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(target)
        assert response.status_code == 200
        return len(queries), response.json()

    _running_runs(plan, repository, 1)
    few, data = cost(url)
    run_url = reverse("admin:repositories_planrun_progress", args=[data["active"][0]])
    one_run = cost(run_url)[0]
    _running_runs(plan, repository, 19)
    many, data = cost(url)
    assert many == few and len(data["active"]) == 20
    assert cost(run_url)[0] == one_run


@pytest.mark.django_db
def test_the_json_views_need_view_permission_on_runs(client, role_user, staff, tmp_path):
    repository = make_repository(tmp_path / "repo", init=False)
    _running_runs(make_plan("p", [repository], [tmp_path]), repository, 1)
    run = PlanRun.objects.get()
    urls = [reverse("dashboard_progress"), reverse("admin:repositories_planrun_progress", args=[run.pk])]
    client.force_login(staff)
    assert [client.get(url).status_code for url in urls] == [403, 403]
    client.force_login(role_user("viewer"))
    assert [client.get(url).status_code for url in urls] == [200, 200]
    assert client.get(reverse("admin:repositories_planrun_progress", args=[run.pk + 1])).status_code == 404


@pytest.mark.django_db
def test_the_run_page_polls_instead_of_reloading(client, admin, tmp_path):
    repository = make_repository(tmp_path / "repo", init=False)
    _running_runs(make_plan("p", [repository], [tmp_path]), repository, 1)
    run = PlanRun.objects.get()
    client.force_login(admin)
    page = client.get(run.get_absolute_url()).content.decode()
    assert 'http-equiv="refresh"' not in page
    assert f'data-live-url="{reverse("admin:repositories_planrun_progress", args=[run.pk])}"' in page
    assert f'data-live-runs="{run.pk} "' in page and "borgui/live.js" in page
    assert "<script>" not in page.split("<body")[1], "no inline script (Content-Security-Policy)"


# --- run_backup on a terminal and in a log ----------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_run_backup_prints_percent_lines_in_a_log(manage, tmp_path):
    plan, _repository, _source = _previous_backup(tmp_path)
    result = manage("run_backup", plan.name, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("progress: main: ")]
    assert lines and any(" % — " in line and " left" in line for line in lines), result.stdout
    assert "\r" not in result.stdout


@pytest.mark.django_db(transaction=True)
def test_run_backup_redraws_one_line_on_a_terminal(subprocess_env, tmp_path):
    plan, _repository, _source = _previous_backup(tmp_path)
    controller, terminal = os.openpty()
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "run_backup", plan.name],
        env=subprocess_env, stdout=terminal, stderr=terminal, cwd=ROOT,
    )  # fmt: skip
    os.close(terminal)
    output = b""
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        output += chunk
    os.close(controller)
    assert process.wait(timeout=300) == 0, output.decode(errors="replace")
    text = output.decode(errors="replace")
    assert "\r\x1b[Kprogress: main: " in text
    assert text.rstrip().splitlines()[-1].strip() == "status: success"


# --- the page in a browser --------------------------------------------------------------------


def _wait_for_reload(page, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            if page.evaluate("window.notReloaded === undefined && document.readyState === 'complete'"):
                return
        except Exception:  # noqa: BLE001 — the page is navigating: ask again
            pass
        time.sleep(0.2)
    raise AssertionError("the page did not reload when the run ended")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_run_page_moves_its_bar_without_reloading_then_shows_the_result(
    admin, admin_login, page, live_server, tmp_path
):
    plan, _repository, _source = _previous_backup(tmp_path)
    admin_login(admin)
    with backup_in_background(plan) as result:
        deadline = time.monotonic() + 60
        while not RepositoryJob.objects.filter(run__plan=plan, status="running", progress_files__gt=0).exists():
            assert time.monotonic() < deadline, "borg never reported progress"
            time.sleep(0.1)
        run = PlanRun.objects.get(plan=plan, status="running")
        page.goto(f"{live_server.url}{run.get_absolute_url()}")
        page.evaluate("window.notReloaded = true")
        first = page.locator('[data-role="text"]').inner_text()
        page.wait_for_function(
            "text => window.notReloaded && document.querySelector('[data-role=\"text\"]').textContent !== text",
            arg=first,
            timeout=30_000,
        )
        assert " % — " in page.locator('[data-role="text"]').inner_text()
        # The run ends: the page reloads by itself and shows the finished job.
        _wait_for_reload(page, time.monotonic() + 120)
        page.wait_for_selector(".live-job.status-success")
        assert page.locator('[data-role="bar"]').get_attribute("value") == "100.0"
        assert page.locator(".live-progress").get_attribute("data-live-runs") == ""  # nothing left to poll
    assert result["run"].status == "success"
