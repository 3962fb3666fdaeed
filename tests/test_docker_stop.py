"""The plan's built-in container stop (docs/docker-hooks.md#built-in-container-stop) against the real engine.

A container named in ``stop_containers`` (or carrying the label) is stopped after the
plan's pre hooks and before borg starts, recorded before the next one, and running again
after the backup — for a successful, a warning and a failing backup. Times are checked
three ways: the ContainerStop record, the repository job, and Docker's own
State.FinishedAt / State.StartedAt.
"""

import re

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from repositories.models import BackupPlan, ContainerStop, PlanRun
from repositories.services import runs, steps
from repositories.services.containers import ContainerStopSteps
from tests.factories import make_plan, make_repository, make_source_tree
from tests.hookkit import attach, docker_times, make_script, read_marks, recorder

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def source(tmp_path):
    return make_source_tree(tmp_path / "src")


def _assert_stopped_while_borg_ran(dockerd, run, name: str):
    job = run.jobs.get()
    record = run.container_stops.get(name=name)
    started_at, finished_at = docker_times(dockerd, name)
    # Stopped (and recorded first) before the repository job — and so borg — began…
    assert record.recorded_at <= finished_at <= record.stopped_at <= job.started
    # …and started again only after it ended.
    assert job.finished <= started_at <= record.started_at
    assert dockerd.state(name) == "running"
    assert (record.stop_error, record.start_error) == ("", "")


@pytest.mark.parametrize("outcome", ["success", "warning", "failure"])
def test_stop_by_name_stops_during_the_backup_and_starts_after(docker_host, tmp_path, source, outcome):
    docker_host.run_container("db")
    repository = make_repository(tmp_path / "repo", init=outcome != "failure")  # failure: not initialised
    sources = [source] + ([tmp_path / "no-such-path"] if outcome == "warning" else [])
    plan = make_plan("nightly", [repository], sources, stop_containers=["db"])

    run = runs.run_in_foreground(plan)

    assert run.status == outcome
    _assert_stopped_while_borg_ran(docker_host, run, "db")
    assert re.search(r"container stop: stopped db \([0-9a-f]{12}\) at \d\d:\d\d:\d\d in \d+\.\ds", run.log)
    assert re.search(r"container start: started db again at \d\d:\d\d:\d\d", run.log)
    assert "Traceback" not in run.log


def test_stop_by_label_in_order_and_start_in_reverse(docker_host, tmp_path, source):
    label = "borgui.stop-during-backup=true"
    docker_host.run_container("b-app", "--label", label)
    docker_host.run_container("a-worker", "--label", label)
    docker_host.run_container("db")
    docker_host.run_container("untouched")
    untouched_started, _ = docker_times(docker_host, "untouched")
    plan = make_plan(
        "nightly", [make_repository(tmp_path / "repo")], [source], stop_containers=["db", f"label:{label}"]
    )

    run = runs.run_in_foreground(plan)

    assert run.status == "success"
    records = list(run.container_stops.order_by("id"))
    assert [(r.name, r.selector) for r in records] == [
        ("db", "db"),
        ("a-worker", f"label:{label}"),  # the containers of a label go by name
        ("b-app", f"label:{label}"),
    ]
    for record in records:
        _assert_stopped_while_borg_ran(docker_host, run, record.name)
    stops = [docker_times(docker_host, r.name)[1] for r in records]
    starts = [docker_times(docker_host, r.name)[0] for r in records]
    assert stops == sorted(stops), "stopped in the plan's order"
    assert starts == sorted(starts, reverse=True), "started again in reverse order"
    assert docker_times(docker_host, "untouched")[0] == untouched_started


def test_a_container_already_stopped_stays_stopped_and_is_not_recorded(docker_host, tmp_path, source):
    docker_host.run_container("db")
    docker_host.run_container("idle")
    docker_host.docker("stop", "idle")
    plan = make_plan("nightly", [make_repository(tmp_path / "repo")], [source], stop_containers=["idle", "db"])

    run = runs.run_in_foreground(plan)

    assert run.status == "success"
    assert docker_host.state("idle") == "exited"
    assert docker_host.state("db") == "running"
    assert list(run.container_stops.values_list("name", flat=True)) == ["db"]
    assert "container stop: idle is not running: left stopped" in run.log


def test_a_missing_container_is_a_warning_not_a_failure(docker_host, tmp_path, source):
    plan = make_plan("nightly", [make_repository(tmp_path / "repo")], [source], stop_containers=["ghost"])
    run = runs.run_in_foreground(plan)
    assert run.status == "warning"
    job = run.jobs.get()
    # As with a plan pre hook's `continue` failure: the backup was made, and its job warns.
    assert (job.status, job.archive_name != "") == ("warning", True)
    assert "container stop: no container named ghost: nothing to stop" in run.log
    assert not run.container_stops.exists()


def test_daemon_unreachable_fails_the_run_readably_and_post_steps_still_run(dockerd, monkeypatch, tmp_path, source):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/borgui-test/docker.sock")
    log = tmp_path / "hooks.log"
    plan = make_plan("nightly", [make_repository(tmp_path / "repo")], [source], stop_containers=["db"])
    attach(plan, recorder(), "post-backup", values={"MARK": "plan-post", "LOG": str(log)}, run_on="always")

    run = runs.run_in_foreground(plan)

    assert run.status == "failure"
    assert run.reason == "plan pre-backup hook failed"
    assert run.jobs.get().status == "skipped"
    assert (
        "container stop failed: no Docker socket at /nonexistent/borgui-test/docker.sock "
        "(mount the socket or set DOCKER_HOST); the backup is not made"
    ) in run.log
    assert "Traceback" not in run.log
    assert read_marks(log) == ["plan-post failure"]


def test_the_stop_comes_after_the_hook_engine_whatever_the_registration_order():
    names = [type(registrant).__name__ for registrant in steps.registered()]
    assert names.index("ContainerStopSteps") > names.index("HookSteps")
    assert ContainerStopSteps.order > 0


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (["db", "label:com.example.backup=true", "web.1", "a_b-c"], None),
        ([], None),
        ("db", "Give a list"),
        (["db", "db"], "Listed twice: db"),
        (["has space"], "not a container name"),
        (["-rf"], "not a container name"),
        (["x"], "not a container name"),  # Docker names have at least two characters
        (["label:"], "label:KEY=VALUE"),
        (["label:key"], "label:KEY=VALUE"),
        (["label:key="], "label:KEY=VALUE"),
        (["label:key=a,b"], "label:KEY=VALUE"),
        ([3], "use a container name"),
    ],
)
def test_stop_containers_validation(value, error):
    plan = BackupPlan(name="p", sources=["/srv"], stop_containers=value)
    if error is None:
        plan.full_clean()
        return
    with pytest.raises(ValidationError) as raised:
        plan.full_clean()
    assert error in " ".join(raised.value.message_dict["stop_containers"])


def test_nothing_recorded_without_stop_containers(docker_host, tmp_path, source):
    docker_host.run_container("db")
    run = runs.run_in_foreground(make_plan("nightly", [make_repository(tmp_path / "repo")], [source]))
    assert run.status == "success"
    assert not ContainerStop.objects.exists()
    assert "container" not in run.log


def test_the_stop_record_is_committed_synchronously_on_postgresql(docker_host, tmp_path, source):
    # Other commits return before their WAL flush (synchronous_commit=off, borgui/settings.py);
    # the stop record waits for it. tests/test_sqlite.py checks the same on SQLite.
    docker_host.run_container("db")
    plan = make_plan("nightly", [make_repository(tmp_path / "repo")], [source], stop_containers=["db"])
    with CaptureQueriesContext(connection) as queries:
        run = runs.run_in_foreground(plan)
    assert run.status == "success"
    statements = [q["sql"] for q in queries if q["sql"].startswith(("INSERT", "UPDATE", "SET synchronous_commit"))]
    recorded = next(i for i, s in enumerate(statements) if s.startswith('INSERT INTO "repositories_containerstop"'))
    assert statements[recorded - 1] == "SET synchronous_commit = on"
    assert statements[recorded + 1] == "SET synchronous_commit = off"
    assert sum(s.startswith("SET synchronous_commit") for s in statements) == 2
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone() == ("off",)


def test_stop_through_a_tcp_docker_host(docker_host, socket_proxy, monkeypatch, tmp_path, source):
    forwarder = socket_proxy(mode="tcp")
    monkeypatch.setenv("DOCKER_HOST", forwarder.host)
    docker_host.run_container("db")
    plan = make_plan("nightly", [make_repository(tmp_path / "repo")], [source], stop_containers=["db"])
    run = runs.run_in_foreground(plan)
    assert run.status == "success"
    _assert_stopped_while_borg_ran(docker_host, run, "db")


def test_the_documented_proxy_profile_is_enough_for_the_built_in_stop(
    docker_host, socket_proxy, monkeypatch, tmp_path, source
):
    proxy = socket_proxy({"CONTAINERS": 1, "POST": 1, "ALLOW_START": 1, "ALLOW_STOP": 1})
    monkeypatch.setenv("DOCKER_HOST", proxy.host)
    docker_host.run_container("db", "--label", "borgui.stop-during-backup=true")
    plan = make_plan(
        "nightly",
        [make_repository(tmp_path / "repo")],
        [source],
        stop_containers=["label:borgui.stop-during-backup=true"],
    )
    run = runs.run_in_foreground(plan)
    assert run.status == "success"
    _assert_stopped_while_borg_ran(docker_host, run, "db")


def test_a_proxy_refusing_the_stop_fails_readably_and_post_steps_run(
    docker_host, socket_proxy, monkeypatch, tmp_path, source
):
    proxy = socket_proxy({"CONTAINERS": 1})  # may list, may not stop
    monkeypatch.setenv("DOCKER_HOST", proxy.host)
    docker_host.run_container("db")
    log = tmp_path / "hooks.log"
    plan = make_plan("nightly", [make_repository(tmp_path / "repo")], [source], stop_containers=["db"])
    attach(plan, recorder(), "post-backup", values={"MARK": "plan-post", "LOG": str(log)}, run_on="always")

    run = runs.run_in_foreground(plan)

    assert run.status == "failure"
    assert (
        f"container stop failed: could not stop db: denied by the Docker socket proxy at {proxy.host} (HTTP 403): "
        "enable POST=1 and ALLOW_STOP=1 on the proxy; the backup is not made"
    ) in run.log
    assert "container start: db is already running (its stop did not happen)" in run.log
    assert "Traceback" not in run.log
    assert docker_host.state("db") == "running"
    assert read_marks(log) == ["plan-post failure"]


def test_a_proxy_refusing_the_list_fails_readably(docker_host, socket_proxy, monkeypatch, tmp_path, source):
    proxy = socket_proxy({"POST": 1, "ALLOW_STOP": 1, "ALLOW_START": 1})
    monkeypatch.setenv("DOCKER_HOST", proxy.host)
    docker_host.run_container("db")
    plan = make_plan("nightly", [make_repository(tmp_path / "repo")], [source], stop_containers=["db"])
    run = runs.run_in_foreground(plan)
    assert run.status == "failure"
    assert (
        f"container stop failed: db: denied by the Docker socket proxy at {proxy.host} (HTTP 403): "
        "enable CONTAINERS=1 on the proxy; the backup is not made"
    ) in run.log
    assert docker_host.state("db") == "running"


def test_a_start_that_fails_is_tried_again_until_the_container_runs(docker_host, tmp_path, source):
    from repositories.services.recovery import recover_runs

    mount = tmp_path / "db-data"
    mount.mkdir()
    docker_host.run_container("db", "--mount", f"type=bind,src={mount},dst=/data")
    plan = make_plan("nightly", [make_repository(tmp_path / "repo")], [source], stop_containers=["db"])
    # The plan's last hook takes the container's data directory away (as an unmounted disk
    # would): Docker refuses to start it, for now.
    away = tmp_path / "db-data-away"
    attach(plan, make_script("unmount", f'#!/bin/sh\nmv "{mount}" "{away}"\n'), "post-backup")

    run = runs.run_in_foreground(plan)

    assert run.status == "success"
    assert docker_host.state("db") == "exited"
    record = run.container_stops.get()
    assert record.started_at is None and record.start_attempts == 3
    assert "bind source path does not exist" in record.start_error
    assert "container start: trying again in 2s" in run.log and "container start: trying again in 5s" in run.log
    assert "container start: still stopped: db; the worker tries again every minute for an hour" in run.log

    recover_runs()  # the worker's minute task, while the disk is still away
    record.refresh_from_db()
    assert (record.started_at, record.start_attempts) == (None, 4)

    away.rename(mount)
    recover_runs()
    record.refresh_from_db()
    assert record.started_at is not None and docker_host.state("db") == "running"
    run.refresh_from_db()
    assert re.search(r"container start: trying again \(db\)\n.*container start: started db again at", run.log)

    recover_runs()  # nothing left to start: no further line
    assert PlanRun.objects.get(pk=run.pk).log == run.log


def test_a_container_removed_meanwhile_is_not_tried_again(docker_host, tmp_path, source):
    docker_host.run_container("db")
    plan = make_plan("nightly", [make_repository(tmp_path / "repo")], [source], stop_containers=["db"])
    attach(plan, make_script("remove", "#!/bin/sh\ndocker rm db\n"), "post-backup")

    run = runs.run_in_foreground(plan)

    record = run.container_stops.get()
    assert record.start_attempts == ContainerStop.MAX_START_ATTEMPTS and not record.pending_start
    assert "no longer exists" in record.start_error
    assert "trying again" not in run.log
