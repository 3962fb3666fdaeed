"""Two backups never write one repository at once: the second waits, visibly (docs/running-plans.md#leases)."""

import json
import subprocess
import sys
import threading

import pytest
from django.db import connection

from repositories.models import PlanRun, RepositoryJob
from repositories.services import pipeline
from tests.conftest import ROOT
from tests.factories import SLOW_COMPRESSION, SLOW_TREE, make_plan, make_repository, make_source_tree
from tests.harness.net import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

# A third process that watches the database the way the admin page does.
OBSERVER = """
import json, time
from repositories.models import PlanRun, RepositoryJob
deadline = time.monotonic() + 120
while time.monotonic() < deadline:
    runs = {r.plan.name: r.status for r in PlanRun.objects.select_related("plan")}
    progress = {j.run.plan.name: j.progress_files for j in RepositoryJob.objects.select_related("run__plan")}
    print(json.dumps({"runs": runs, "progress": progress}), flush=True)
    if len(runs) == 2 and all(s in ("success", "warning", "failure") for s in runs.values()):
        break
    time.sleep(0.2)
"""


def _start(env, *args) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_plans_on_one_repository_run_one_after_the_other(subprocess_env, tmp_path):
    repository = make_repository(tmp_path / "repo")
    slow_source = make_source_tree(tmp_path / "big", **SLOW_TREE)
    make_plan("slow", [repository], [slow_source], compression=SLOW_COMPRESSION)
    make_plan("quick", [repository], [make_source_tree(tmp_path / "small")])

    observer = _start(subprocess_env, "shell", "-v0", "-c", OBSERVER)
    slow = _start(subprocess_env, "run_backup", "slow")
    wait_for(
        lambda: RepositoryJob.objects.filter(run__plan__name="slow", status="running").exists(),
        30,
        "the backup to start",
    )
    quick = _start(subprocess_env, "run_backup", "quick")
    for process in (slow, quick):
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, out + err
        assert out.splitlines()[-1] == "status: success"
    observations = [json.loads(line) for line in observer.communicate(timeout=60)[0].splitlines()]

    waiting_seen = [o for o in observations if o["runs"].get("quick") == "waiting"]
    assert waiting_seen, "the observer never saw the second run waiting"
    assert any(o["runs"]["slow"] == "running" for o in waiting_seen)
    # (the waiting run polls its lease: it may still say waiting a moment after the first ended)
    assert all(o["runs"]["slow"] in ("running", "success") for o in waiting_seen)
    growing = sorted({o["progress"].get("slow", 0) for o in observations if o["runs"].get("slow") == "running"})
    assert len([p for p in growing if 0 < p < SLOW_TREE["files"]]) >= 1, f"no live progress seen: {growing}"

    slow_run, quick_run = PlanRun.objects.get(plan__name="slow"), PlanRun.objects.get(plan__name="quick")
    quick_job = quick_run.jobs.get()
    assert quick_job.started >= slow_run.jobs.get().finished, "the second borg create began before the first ended"
    assert "waiting for repository main (held by slow run" in quick_run.log


def test_waiting_is_bounded_and_fails_with_a_clear_reason(subprocess_env, tmp_path):
    repository = make_repository(tmp_path / "repo")
    make_plan("slow", [repository], [make_source_tree(tmp_path / "big", **SLOW_TREE)], compression=SLOW_COMPRESSION)
    make_plan("quick", [repository], [make_source_tree(tmp_path / "small")])
    slow = _start(subprocess_env, "run_backup", "slow")
    wait_for(
        lambda: RepositoryJob.objects.filter(run__plan__name="slow", status="running").exists(),
        30,
        "the backup to start",
    )
    quick = _start({**subprocess_env, "BORGUI_LEASE_WAIT_SECONDS": "1"}, "run_backup", "quick")
    out, _err = quick.communicate(timeout=60)
    assert quick.returncode == 2
    assert out.splitlines()[-1] == "status: failure"
    run = PlanRun.objects.get(plan__name="quick")
    assert run.reason == "timed out waiting for repository main (another backup is writing it)"
    assert run.jobs.get().status == "skipped"
    assert slow.wait(120) == 0


def _start_at_once(plan, barrier: threading.Barrier, outcomes: list[str]) -> None:
    barrier.wait()
    try:
        pipeline.create_run(plan, "cli")
        outcomes.append("started")
    except pipeline.PlanAlreadyRunning:
        outcomes.append("refused")
    finally:
        connection.close()


def test_a_plan_started_from_several_places_at_once_runs_once(tmp_path):
    plan = make_plan("nightly", [make_repository(tmp_path / "repo", init=False)], [tmp_path])
    starters = 4
    for _round in range(5):
        barrier, outcomes = threading.Barrier(starters), []
        threads = [threading.Thread(target=_start_at_once, args=(plan, barrier, outcomes)) for _ in range(starters)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(outcomes) == ["refused"] * (starters - 1) + ["started"]
        PlanRun.objects.filter(plan=plan).update(status="success")  # finished: the next round may start
