"""Scale-out (docs/scaling.md): two worker machines on one PostgreSQL, thirty plans due in one
minute across three repositories, one machine killed mid-run, the admin pages read meanwhile.

The machines are real qclusters in their own network namespaces (tests/harness/machines.py):
they share the database (through PostgreSQL's unix socket) and the repositories' path, nothing
else. The page times are printed (run with -s to see them), never asserted.
"""

import json
import os
import signal
import statistics
import subprocess
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone
from django_q.models import OrmQ, Schedule
from django_q.scheduler import scheduler

from repositories import borg
from repositories.models import PlanRun, Repository, RepositoryJob, RepositoryLease
from repositories.services.recovery import recover_runs
from repositories.services.runs import run_in_foreground, run_scheduled
from repositories.status import Status
from tests.factories import SLOW_COMPRESSION, make_plan, make_repository, make_source_tree
from tests.harness import machines as machinekit
from tests.harness.net import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.xdist_group("scale-out")]

PLANS, REPOSITORIES = 30, 3
RECOVERY_SCHEDULE = "borgui:recover_runs"  # made by repositories/migrations/0002; flushed between transactional tests
# Short enough for one test: a dead worker is noticed after 5 s, a task it had taken comes back after 30 s.
MACHINE_SETTINGS = {"BORGUI_STALE_AFTER_SECONDS": "5", "BORGUI_TASK_TIMEOUT_SECONDS": "20", "BORGUI_WORKERS": "2"}


@pytest.fixture
def shared_path():
    """The repositories' and sources' path every machine sees (a shared mount on real machines)."""
    path = Path(tempfile.mkdtemp(prefix="borgui-scale-"))
    path.chmod(0o755)
    yield path
    subprocess.run(["rm", "-rf", str(path)])


@pytest.fixture
def machines(transactional_db, shared_path):
    reason = machinekit.unavailable()
    if reason:
        pytest.skip(f"no network namespaces here: {reason}")
    # Where Debian's cluster (tests/harness/postgres.py) puts its socket; none for a server elsewhere.
    socket_name = f".s.PGSQL.{connection.settings_dict['PORT']}"
    socket_dir = next((d for d in ("/var/run/postgresql", "/tmp") if Path(d, socket_name).exists()), None)
    if socket_dir is None:
        pytest.skip("the test database has no local unix socket (BORGUI_TEST_DATABASE_URL points elsewhere)")
    machinekit.ensure_os_user()
    env = {
        **os.environ,
        **MACHINE_SETTINGS,
        "DATABASE_URL": machinekit.socket_database_url(socket_dir, connection.settings_dict["NAME"]),
    }
    started = []

    def start(name: str) -> machinekit.Machine:
        machine = machinekit.Machine(name, env, shared_path / f"data-{name}", shared_path / f"{name}.log")
        started.append(machine.start())
        return machine

    yield start
    for machine in started:
        machine.stop()


class PageTimes(threading.Thread):
    """Server time of admin pages, read over and over by a signed-in admin while the runs go."""

    def __init__(self, admin):
        super().__init__(daemon=True)
        self.client = Client()
        self.client.force_login(admin)
        self.times: dict[str, list[float]] = {}
        self.errors: list[tuple[str, int]] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        try:
            while not self.stopped.is_set():
                self.read()
        finally:
            connection.close()

    def read(self) -> None:
        run = PlanRun.objects.order_by("-id").first()
        pages = {"dashboard": "/admin/", "plan-runs list": "/admin/repositories/planrun/"}
        if run is not None:
            pages["run page"] = f"/admin/repositories/planrun/{run.pk}/change/"
        for label, url in pages.items():
            started = time.perf_counter()
            response = self.client.get(url)
            elapsed = time.perf_counter() - started
            if response.status_code != 200:
                self.errors.append((url, response.status_code))
            self.times.setdefault(label, []).append(elapsed * 1000)

    def stop(self) -> str:
        self.stopped.set()
        self.join()
        return "\n".join(
            f"  {label:15} n={len(ms):3}  median {statistics.median(ms):6.1f} ms  "
            f"p90 {sorted(ms)[int(len(ms) * 0.9)]:6.1f} ms  max {max(ms):6.1f} ms"
            for label, ms in self.times.items()
        )


@pytest.fixture
def pages(admin):
    reader = PageTimes(admin)
    yield reader
    if reader.is_alive():
        reader.stop()


def _borg_lock_holders(repository: Repository) -> list[str]:
    """Who holds borg's exclusive lock of a local repository ("host@node" of each holder)."""
    try:
        roster = json.loads(Path(repository.location, "lock.roster").read_text())
    except (OSError, ValueError):
        return []
    return [host for host, _pid, _thread in roster.get("exclusive", [])]


def _arm_recovery_every_minute() -> None:
    Schedule.objects.update_or_create(
        name=RECOVERY_SCHEDULE,
        defaults={
            "func": "repositories.tasks.recover_runs",
            "schedule_type": Schedule.MINUTES,
            "minutes": 1,
            "repeats": -1,
            "next_run": timezone.now(),
        },
    )


def _overlaps(jobs: list[RepositoryJob]) -> list[tuple[int, int]]:
    """Pairs of jobs whose `borg create` ran at the same time: what must never overlap is borg
    writing one repository from two places."""
    spans = sorted(
        (job.create_started, job.create_finished, job.pk) for job in jobs if job.create_started and job.create_finished
    )
    return [(a[2], b[2]) for a, b in zip(spans, spans[1:], strict=False) if b[0] < a[1]]


def test_thirty_plans_due_in_one_minute_on_two_machines_run_once_each_and_survive_a_killed_machine(
    machines, shared_path, pages
):
    (shared_path / "repositories").mkdir()
    repositories = [
        make_repository(shared_path / "repositories" / f"repo-{index}", name=f"repo-{index}")
        for index in range(REPOSITORIES)
    ]
    sources = [
        make_source_tree(shared_path / "sources" / f"src-{index}", files=20, size=100_000) for index in range(PLANS)
    ]
    slot = timezone.now().replace(second=0, microsecond=0)
    plans = [
        make_plan(f"plan-{index:02d}", [repositories[index % REPOSITORIES]], [sources[index]],
                  schedule=f"{slot.minute} {slot.hour} * * *", timezone="UTC", compression=SLOW_COMPRESSION)
        for index in range(PLANS)
    ]  # fmt: skip
    # Saving armed each plan for tomorrow's slot; make today's the one due now, for all thirty.
    assert Schedule.objects.filter(name__startswith="plan:").update(next_run=slot) == PLANS
    _arm_recovery_every_minute()
    machinekit.give_to_os_user(shared_path)

    a, b = machines("machine-a"), machines("machine-b")
    # Each machine has only its own loopback: the server's TCP port is not reachable from there.
    links = a.run_inside(["ip", "-o", "link"]).stdout.strip().splitlines()
    assert [line.split(":")[1].strip() for line in links] == ["lo"]
    port = str(connection.settings_dict["PORT"])
    probe = a.run_inside(["bash", "-c", f"exec 3<>/dev/tcp/127.0.0.1/{port}"])
    assert probe.returncode != 0, "the machine reached the database over TCP"

    pages.start()
    started = time.monotonic()

    def machine_a_holds_a_borg_lock() -> bool:
        return any(h.startswith("machine-a@") for r in repositories for h in _borg_lock_holders(r))

    wait_for(machine_a_holds_a_borg_lock, 120, "a backup on machine-a to hold borg's lock", interval=0.02)
    killed_at = time.monotonic()
    a.kill_hard()
    on_a = list(PlanRun.objects.filter(status__in=Status.active_values(), worker__startswith="machine-a:"))
    assert on_a, "machine-a had a run when it was killed"
    assert not a.pids(), "a process of machine-a survived"

    def all_finished() -> bool:
        runs = PlanRun.objects.filter(scheduled_for=slot)
        return runs.count() >= PLANS and not runs.filter(status__in=Status.active_values()).exists()

    try:
        wait_for(all_finished, 150, "every plan's run to finish on machine-b", interval=0.2)
    except TimeoutError:
        runs = PlanRun.objects.select_related("plan")
        states = [(run.plan.name, run.status, run.worker, run.reason, run.log[-300:]) for run in runs]
        pytest.fail(f"{states}\n--- machine-b ---\n{b.log()[-5000:]}")
    wall = time.monotonic() - started
    report = pages.stop()
    print(
        f"\nscale-out: {PLANS} plans on {REPOSITORIES} repositories, 2 machines, machine-a killed after "
        f"{killed_at - started:.1f} s with {len(on_a)} run(s); all finished after {wall:.1f} s\n"
        f"admin pages during the load (server time, Django test client, same database):\n{report}"
    )
    assert not pages.errors

    runs = list(PlanRun.objects.select_related("plan").order_by("plan__name"))
    # Every plan ran exactly once for the slot, and nothing else ran.
    assert sorted(run.plan.name for run in runs) == sorted(plan.name for plan in plans)
    interrupted = {run.pk for run in on_a}
    for run in runs:
        if run.pk in interrupted:
            # Recovered by the other machine: failure "interrupted", its post steps done there.
            assert (run.status, run.reason, run.plan_post_done) == ("failure", "interrupted", True), run.log
            assert run.worker.startswith("machine-b:"), run.worker
        else:
            assert (run.status, run.reason) == ("success", ""), (run.plan.name, run.reason, run.log[-2000:])
        assert "acquire the lock" not in run.log and "timed out" not in run.log, run.log[-2000:]
    # The run killed in borg create left borg's lock (named after machine-a): recovery broke it.
    assert any("borg lock of the stopped worker broken" in run.log for run in runs if run.pk in interrupted)
    # Both machines ran backups, and the repository leases held across them: no two backups
    # of one repository overlapped.
    hosts = {run.worker.partition(":")[0] for run in runs if run.pk not in interrupted}
    assert "machine-b" in hosts
    for repository in repositories:
        jobs = list(RepositoryJob.objects.filter(repository=repository, run__status="success"))
        assert not _overlaps(jobs), f"{repository.name}: overlapping backups {_overlaps(jobs)}"

    b.stop()
    for repository in repositories:
        # Usable without a manual break-lock: borg check passes and the archives are all there.
        assert borg.check(repository).ok, repository.name
        listed = borg.list_archives(repository)
        successes = RepositoryJob.objects.filter(repository=repository, status="success").count()
        assert len(json.loads(listed.stdout)["archives"]) == successes, repository.name


def _at_once(count: int, work) -> list:
    """WORK() in COUNT threads released together (each its own database connection), as
    COUNT machines doing it at the same moment would."""
    barrier = threading.Barrier(count)
    results: list = []

    def one():
        try:
            barrier.wait()
            results.append(work())
        finally:
            connection.close()

    threads = [threading.Thread(target=one) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def test_two_schedulers_looking_at_the_same_moment_fire_a_due_plan_once(tmp_path):
    repository = make_repository(tmp_path / "repo", init=False)
    plan = make_plan("nightly", [repository], ["/srv"], schedule="0 3 * * *")
    Schedule.objects.filter(name=f"plan:{plan.pk}").update(next_run=timezone.now() - timedelta(seconds=5))
    # django-q2's scheduler locks the due rows (select_for_update) and spends a one-shot
    # schedule in the same transaction: the second machine's scheduler finds it spent.
    _at_once(2, scheduler)
    assert sum(task.func() == "repositories.tasks.run_scheduled_plan" for task in OrmQ.objects.all()) == 1


def test_one_slot_delivered_to_two_machines_at_once_makes_one_run(tmp_path):
    repository = make_repository(tmp_path / "repo")
    plan = make_plan("nightly", [repository], [make_source_tree(tmp_path / "src")], schedule="0 3 * * *")
    slot = timezone.now().replace(second=0, microsecond=0).isoformat()
    results = _at_once(2, lambda: run_scheduled(plan.pk, slot))
    # One ran the backup; the other met the plan's row lock and the one-run-per-slot key.
    assert results.count("success") == 1, results
    other = next(result for result in results if result != "success")
    assert other == "slot already run" or "is already running" in other, results
    assert [(run.trigger, run.status) for run in PlanRun.objects.all()] == [("schedule", "success")]


def _dead_run_on_another_machine(plan, repository) -> PlanRun:
    """What a machine that lost power mid-backup leaves: a running run with a stale
    heartbeat, holding the repository's lease, its job in borg create."""
    run = PlanRun.objects.create(
        plan=plan, trigger="admin", status="running", worker="machine-gone:4242", plan_pre_started=True,
        started=timezone.now() - timedelta(minutes=5), heartbeat=timezone.now() - timedelta(minutes=5),
    )  # fmt: skip
    RepositoryJob.objects.create(run=run, repository=repository, status="running", pre_started=True)
    RepositoryLease.objects.update_or_create(repository=repository, defaults={"run": run, "taken": run.started})
    return run


def test_a_run_waiting_for_a_dead_runs_lease_recovers_it_itself(tmp_path, settings):
    # Every worker process may be such a waiting run, so the minute task (which needs a free
    # process) cannot be what frees the repository: without this the wait runs out.
    settings.BORGUI_LEASE_WAIT_SECONDS = 20
    repository = make_repository(tmp_path / "repo")
    dead = _dead_run_on_another_machine(make_plan("gone", [repository], ["/srv"]), repository)
    plan = make_plan("next", [repository], [make_source_tree(tmp_path / "src")])
    run = run_in_foreground(plan)
    assert (run.status, run.reason) == ("success", ""), run.log
    assert f"waiting for repository main (held by gone run {dead.pk})" in run.log
    dead.refresh_from_db()
    assert (dead.status, dead.reason, dead.plan_post_done) == ("failure", "interrupted", True)


def test_recovery_breaks_the_borg_lock_a_dead_machine_left(tmp_path):
    repository = make_repository(tmp_path / "repo")
    dead = _dead_run_on_another_machine(make_plan("gone", [repository], ["/srv"]), repository)
    # A borg on "machine-gone" takes the repository's lock and dies with its machine.
    env = {**os.environ, "BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK": "yes", "BORG_BASE_DIR": str(tmp_path / "b")}
    holder = subprocess.Popen(
        ["unshare", "--uts", "sh", "-c", "hostname machine-gone && exec borg with-lock -- \"$0\" sleep 600",
         repository.location],
        env=env, start_new_session=True,
    )  # fmt: skip
    wait_for(lambda: _borg_lock_holders(repository), 30, "the other machine's borg to hold the lock")
    os.killpg(holder.pid, signal.SIGKILL)  # the machine goes: borg and the command it ran
    holder.wait()
    assert _borg_lock_holders(repository)[0].startswith("machine-gone@")
    listing = ["borg", "--lock-wait", "1", "list", repository.location]
    here = subprocess.run(listing, env=env, capture_output=True, text=True)
    assert "Failed to create/acquire the lock" in here.stderr, "borg here cannot break another machine's stale lock"

    recovered = recover_runs()
    assert [run.pk for run in recovered] == [dead.pk]
    dead.refresh_from_db()
    assert "main: borg lock of the stopped worker broken" in dead.log
    assert not _borg_lock_holders(repository)
    assert borg.list_archives(repository).ok
