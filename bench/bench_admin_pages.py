"""Admin pages with a long history (issue 15), printed side by side; nothing is asserted.

With 50 plans (on 10 repositories) and 100 runs, then 100,000 runs (one repository job
each, one run in progress), the server time (the best of ROUNDS requests through Django's
test client, after a warm-up) and the query count of: the dashboard, the plan-runs list
(first and last page), the repositories list, the plans list, a run page, and the two
JSON progress views. The best of ROUNDS, not the median: on a machine shared with other
work the median measures the neighbours. Each size is measured with the indexes of
repositories/migrations/0011_progress_and_indexes.py and again without them (dropped for
the "before" column, then created again). Target: ratio 100,000 / 100 <= 1.5 and the same
query counts.

Run from the repository root: ``.venv/bin/python bench/bench_admin_pages.py``
(SQLite in a temporary directory, or the database of DATABASE_URL).
"""

import argparse
import os
import shutil
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_backup import prepare_environment  # noqa: E402

PLANS = 50
REPOSITORIES = 10
SIZES = (100, 100_000)
NEW_INDEXES = {
    "planrun": ["planrun_newest", "planrun_plan_newest", "planrun_status_newest", "planrun_status_finished"],
    "repositoryjob": ["repositoryjob_last"],
    "containerstop": ["containerstop_not_started"],
}


def build_world():
    from repositories.models import BackupPlan, PlanRepository, Repository

    repositories = Repository.objects.bulk_create(
        Repository(name=f"repo-{i}", location=f"/srv/borg/repo-{i}", encryption="none") for i in range(REPOSITORIES)
    )
    plans = BackupPlan.objects.bulk_create(
        BackupPlan(name=f"plan-{i:02d}", sources=["/srv/data"], schedule=f"{i % 60} 3 * * *") for i in range(PLANS)
    )
    PlanRepository.objects.bulk_create(
        PlanRepository(plan=plan, repository=repositories[i % REPOSITORIES], order=0) for i, plan in enumerate(plans)
    )
    return plans, repositories


def fill_history(plans, repositories, total: int) -> int:
    """TOTAL runs spread over the plans, newest last; the very last one is running. Returns its id."""
    from django.utils import timezone

    from repositories.models import PlanRun, RepositoryJob

    PlanRun.objects.all().delete()
    now = timezone.now()
    repository_of = {plan.pk: repositories[i % REPOSITORIES] for i, plan in enumerate(plans)}
    statuses = ["success"] * 7 + ["warning", "failure", "skipped"]
    batch = 5000
    for start in range(0, total, batch):
        runs = []
        for i in range(start, min(start + batch, total)):
            age = timedelta(minutes=(total - i) * 10)
            running = i == total - 1
            runs.append(
                PlanRun(
                    plan=plans[i % PLANS],
                    trigger="schedule",
                    scheduled_for=now - age,
                    status="running" if running else statuses[(i // PLANS) % len(statuses)],
                    created=now - age,
                    started=now - age,
                    finished=None if running else now - age + timedelta(minutes=3),
                    reason="" if (i // PLANS) % 10 < 7 else "borg create exited 2",
                    log="12:00:00 borg create …\n" * 40,
                )  # fmt: skip
            )
        created = PlanRun.objects.bulk_create(runs)
        RepositoryJob.objects.bulk_create(
            RepositoryJob(
                run=run, repository=repository_of[run.plan_id], status=run.status, started=run.started,
                finished=run.finished, nfiles=12_000,
                original_size=5_000_000_000, compressed_size=3_000_000_000, deduplicated_size=20_000_000,
                progress_files=6_000, progress_bytes=2_500_000_000, progress_started=run.started,
                progress_updated=now, archive_name=f"{run.plan.name}-{run.pk}",
            )
            for run in created
        )  # fmt: skip
    return PlanRun.objects.get(status="running").pk


def _new_indexes():
    from repositories.models import ContainerStop, PlanRun, RepositoryJob

    for model in (PlanRun, RepositoryJob, ContainerStop):
        for index in model._meta.indexes:
            if index.name in NEW_INDEXES[model._meta.model_name]:
                yield model, index


def drop_indexes() -> None:
    from django.db import connection

    with connection.schema_editor() as editor:
        for model, index in _new_indexes():
            editor.remove_index(model, index)


def create_indexes() -> None:
    from django.db import connection

    with connection.schema_editor() as editor:
        for model, index in _new_indexes():
            editor.add_index(model, index)


def pages(run_id: int, total: int) -> dict[str, str]:
    from django.urls import reverse

    last_page = max(1, -(-total // 100))
    return {
        "dashboard": reverse("admin:index"),
        "plan-runs list, first page": reverse("admin:repositories_planrun_changelist"),
        "plan-runs list, last page": reverse("admin:repositories_planrun_changelist") + f"?p={last_page}",
        "repositories list": reverse("admin:repositories_repository_changelist"),
        "plans list": reverse("admin:repositories_backupplan_changelist"),
        "run page": reverse("admin:repositories_planrun_change", args=[run_id]),
        "run progress.json": reverse("admin:repositories_planrun_progress", args=[run_id]),
        "dashboard progress.json": reverse("dashboard_progress"),
    }


def measure(client, url: str, rounds: int) -> tuple[float, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    assert client.get(url).status_code == 200, url  # warm-up (templates, caches)
    times = []
    for _ in range(rounds):
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            response = client.get(url)
            times.append(time.perf_counter() - started)
        assert response.status_code == 200, url
    return min(times), len(queries)


def measure_all(client, run_id: int, total: int, rounds: int) -> dict[str, tuple[float, int]]:
    return {name: measure(client, url, rounds) for name, url in pages(run_id, total).items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--large", type=int, default=SIZES[1])
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="borgui-bench-admin-"))
    os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost")
    try:
        prepare_environment(work)
        report(args.rounds, (SIZES[0], args.large))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def report(rounds: int, sizes: tuple[int, int]) -> None:
    import logging

    from django.conf import settings
    from django.contrib.auth.models import User
    from django.test import Client
    from django.test.utils import setup_test_environment

    logging.disable(logging.INFO)  # axes logs each sign-in
    setup_test_environment()  # the test client's template context, as the tests see it
    settings.DEBUG = False
    plans, repositories = build_world()
    client = Client()
    client.force_login(User.objects.create_superuser("bench", "bench@example.com", "bench"))
    results = {}
    for total in sizes:
        started = time.perf_counter()
        run_id = fill_history(plans, repositories, total)
        print(f"{total:,} runs written in {time.perf_counter() - started:.1f} s", flush=True)
        results[(total, "with")] = measure_all(client, run_id, total, rounds)
        drop_indexes()
        results[(total, "without")] = measure_all(client, run_id, total, rounds)
        create_indexes()
    small, large = sizes
    print(f"\nbest server time of {rounds} requests (queries); {PLANS} plans, {REPOSITORIES} repositories")
    header = f"{'page':<28} {'indexes':<8} {small:>7,} runs   {large:>7,} runs   ratio"
    print(header)
    print("-" * len(header))
    for name in pages(1, sizes[1]):
        for mode in ("without", "with"):
            (t_small, q_small), (t_large, q_large) = results[(small, mode)][name], results[(large, mode)][name]
            print(
                f"{name:<28} {mode:<8} {t_small * 1000:7.1f} ms ({q_small:2})  {t_large * 1000:7.1f} ms ({q_large:2})"
                f"  {t_large / t_small:5.2f}{'' if q_small == q_large else '  queries differ'}"
            )
    print("target: ratio <= 1.5 with the indexes, equal query counts")


if __name__ == "__main__":
    main()
