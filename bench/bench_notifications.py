"""Notification benchmarks (issue 12), printed side by side; nothing is asserted.

1. Latency: from a run's final status (its `finished` time, saved with the status) to the
   notification's arrival at a local HTTP receiver, with a warm worker (a real `qcluster`;
   the ORM broker polls every Q_CLUSTER "poll" = 0.2 s). Median of 20; target < 1 s.
2. /metrics: the response time with 100,000 runs in the database against 100 runs
   (median of 30 scrapes each, after the worker's recount). Target ratio <= 1.5.

Run from the repository root: ``.venv/bin/python bench/bench_notifications.py``
(SQLite in a temporary directory, or the database of DATABASE_URL).
"""

import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_backup import prepare_environment  # noqa: E402

ROUNDS = 20
SCRAPES = 30
TOKEN = "bench-metrics-token"


def latency(work: Path, env: dict) -> list[float]:
    from notifications.models import Channel
    from repositories import borg
    from repositories.models import BackupPlan, PlanRepository, PlanRun, Repository
    from repositories.services import runs
    from tests.harness.net import wait_for
    from tests.harness.processes import terminate
    from tests.notifykit import Receiver

    source = work / "src"
    source.mkdir()
    (source / "file").write_text("data\n")
    repository = Repository.objects.create(name="main", location=str(work / "repo"), encryption="none")
    assert borg.init(repository).ok
    plan = BackupPlan.objects.create(name="nightly", sources=[str(source)])
    PlanRepository.objects.create(plan=plan, repository=repository)
    receiver = Receiver().start()
    Channel.objects.create(name="bench", url=receiver.url("/notify", scheme="json"), events=["success"])
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env=env,
        stdout=open(work / "qcluster.log", "ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    delays = []
    try:
        for index in range(ROUNDS + 1):  # the first run warms the worker (imports, Apprise)
            run_id = runs.queue_run(plan).pk
            arrived = receiver.wait_for(index + 1, timeout=120)[-1]
            finished = wait_for(lambda: PlanRun.objects.get(pk=run_id).finished, 30, "the run's status")  # noqa: B023
            if index:
                delays.append(arrived.wall - finished.timestamp())
    finally:
        terminate(worker, 30)
        receiver.stop()
    return delays


def _history(plans, per_plan: int) -> None:
    from django.utils import timezone

    from repositories.models import PlanRun

    now = timezone.now()
    statuses = ["success", "success", "warning", "failure", "skipped"]
    for plan in plans:
        PlanRun.objects.bulk_create(
            (
                PlanRun(
                    plan=plan,
                    trigger="schedule",
                    scheduled_for=now - timedelta(hours=per_plan - i),
                    status=statuses[i % len(statuses)],
                    started=now - timedelta(hours=per_plan - i, minutes=5),
                    finished=now - timedelta(hours=per_plan - i),
                )
                for i in range(per_plan)
            ),
            batch_size=5000,
        )


def scrape_times(total_runs: int, plans) -> tuple[float, float]:
    from django.test import Client

    from notifications.services import metrics
    from repositories.models import PlanRun

    PlanRun.objects.all().delete()
    _history(plans, total_runs // len(plans))
    started = time.perf_counter()
    metrics.refresh_all()
    recount = time.perf_counter() - started
    client = Client()
    headers = {"Authorization": f"Bearer {TOKEN}"}
    assert client.get("/metrics", headers=headers).status_code == 200
    times = []
    for _ in range(SCRAPES):
        started = time.perf_counter()
        response = client.get("/metrics", headers=headers)
        times.append(time.perf_counter() - started)
        assert response.status_code == 200
    return statistics.median(times), recount


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="borgui-bench-notify-"))
    os.environ.setdefault("BORGUI_METRICS_TOKEN", TOKEN)
    os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost")
    env = prepare_environment(work)
    delays = latency(work, env)
    print(f"status → notification at the receiver, warm worker, {ROUNDS} runs:")
    print(
        f"  median {statistics.median(delays) * 1000:.0f} ms, min {min(delays) * 1000:.0f} ms, "
        f"max {max(delays) * 1000:.0f} ms (target < 1000 ms; ORM broker poll 0.2 s)"
    )

    from repositories.models import BackupPlan

    plans = [BackupPlan.objects.create(name=f"metrics-{i}", sources=["/srv"]) for i in range(10)]
    small, small_recount = scrape_times(100, plans)
    large, large_recount = scrape_times(100_000, plans)
    print("/metrics, median of", SCRAPES, "scrapes:")
    print(f"  100 runs: {small * 1000:.1f} ms; 100,000 runs: {large * 1000:.1f} ms")
    print(f"  ratio {large / small:.2f} (target <= 1.5)")
    print(
        f"  the worker's minute recount: {small_recount * 1000:.0f} ms with 100 runs, "
        f"{large_recount * 1000:.0f} ms with 100,000"
    )


if __name__ == "__main__":
    main()
