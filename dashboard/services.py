"""What the dashboard shows (docs/dashboard.md), read in a constant number of queries.

Each section is read only for a user who may view what it shows; nothing here runs borg
or Docker: the System summary is the last report a worker stored.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Count, OuterRef, Subquery, Sum
from django.utils import timezone

from accounts.roles import SYSTEM_PERMISSION
from archives.models import Archive, RestoreJob, RestoreStatus
from maintenance.models import MaintenanceJob
from notifications.services.workers import worker_alive
from repositories import progress
from repositories.models import BackupPlan, ContainerStop, PlanRun, Repository, RepositoryJob
from repositories.services.scheduling import next_slot
from repositories.status import Status
from system.views import latest_worker_report

RECENT_DAYS = 7
RECENT_PROBLEMS_SHOWN = 20
NEXT_RUNS_SHOWN = 10


@dataclass
class PlanRow:
    plan: BackupPlan
    last_run: PlanRun | None
    next_run: datetime | None


@dataclass
class SystemSummary:
    checked: datetime | None
    ok: bool | None
    problems: list[str]
    worker_alive: bool


@dataclass
class Dashboard:
    now: datetime
    plans: list[PlanRow] | None = None
    next_runs: list[PlanRow] = field(default_factory=list)
    running: list[dict] | None = None
    problems: list[PlanRun] | None = None
    more_problems: bool = False
    stopped_containers: list[ContainerStop] | None = None
    repositories: list[Repository] | None = None
    system: SystemSummary | None = None
    maintenance_running: list[MaintenanceJob] | None = None
    restores_running: list[RestoreJob] | None = None

    @property
    def recent_days(self) -> int:
        return RECENT_DAYS


def build(user, now: datetime | None = None) -> Dashboard:
    now = now or timezone.now()
    board = Dashboard(now=now)
    may_see_runs = user.has_perm("repositories.view_planrun")
    if user.has_perm("repositories.view_backupplan"):
        board.plans = plan_rows(now, with_last_run=may_see_runs)
        board.next_runs = sorted((row for row in board.plans if row.next_run), key=lambda row: row.next_run)[
            :NEXT_RUNS_SHOWN
        ]
    if may_see_runs:
        board.running = running_runs()
        board.problems, board.more_problems = recent_problems(now)
        board.stopped_containers = stopped_containers()
    if user.has_perm("repositories.view_repository"):
        board.repositories = repository_rows()
    if user.has_perm(SYSTEM_PERMISSION):
        board.system = system_summary()
    if user.has_perm("maintenance.view_maintenancejob"):
        board.maintenance_running = list(
            MaintenanceJob.objects.filter(status__in=Status.active_values()).select_related("repository", "plan")
        )
    if user.has_perm("archives.view_restorejob"):
        active = [status.value for status in RestoreStatus if status.is_active]
        board.restores_running = list(RestoreJob.objects.filter(status__in=active).select_related("repository"))
    return board


def plan_rows(now: datetime, with_last_run: bool = True) -> list[PlanRow]:
    """Every plan with its last run (its archives' sizes summed over its repositories); two queries."""
    last = PlanRun.objects.filter(plan=OuterRef("pk")).order_by("-created", "-id")
    plans = list(BackupPlan.objects.annotate(last_run_id=Subquery(last.values("pk")[:1])).order_by("name"))
    runs = {}
    if with_last_run:
        ids = [plan.last_run_id for plan in plans if plan.last_run_id]
        found = PlanRun.objects.filter(pk__in=ids).annotate(
            archive_size=Sum("jobs__original_size"), added_size=Sum("jobs__deduplicated_size")
        )
        runs = {run.pk: run for run in found.defer("log")}
    return [
        PlanRow(
            plan=plan,
            last_run=runs.get(plan.last_run_id),
            next_run=next_slot(plan, now) if plan.enabled and plan.schedule else None,
        )
        for plan in plans
    ]


def running_runs() -> list[dict]:
    return progress.runs_progress(PlanRun.objects.filter(status__in=Status.active_values()).defer("log"))


def recent_problems(now: datetime) -> tuple[list[PlanRun], bool]:
    """Failures and warnings that ended in the last RECENT_DAYS days, newest first."""
    found = list(
        PlanRun.objects.filter(
            status__in=[Status.FAILURE, Status.WARNING], finished__gte=now - timedelta(days=RECENT_DAYS)
        )
        .select_related("plan")
        .defer("log")
        .order_by("-finished", "-id")[: RECENT_PROBLEMS_SHOWN + 1]
    )
    return found[:RECENT_PROBLEMS_SHOWN], len(found) > RECENT_PROBLEMS_SHOWN


def stopped_containers() -> list[ContainerStop]:
    """Containers a run stopped and nobody has started again yet (docs/docker-hooks.md)."""
    return list(
        ContainerStop.objects.filter(started_at__isnull=True, stopped_at__isnull=False)
        .select_related("run__plan")
        .defer("run__log")
        .order_by("stopped_at")
    )


def repository_rows() -> list[Repository]:
    """Each repository with its stored size, archive count and last backup (one query)."""
    last = RepositoryJob.objects.filter(repository=OuterRef("pk"), finished__isnull=False).order_by("-finished")
    archives = Archive.objects.filter(repository=OuterRef("pk")).order_by().values("repository").annotate(n=Count("pk"))
    return list(
        Repository.objects.select_related("archive_list")
        .annotate(
            archive_count=Subquery(archives.values("n")[:1]),
            last_status=Subquery(last.values("status")[:1]),
            last_finished=Subquery(last.values("finished")[:1]),
        )
        .only("name", "archive_list__unique_csize", "archive_list__refreshed", "archive_list__error")
        .order_by("name")
    )


def system_summary() -> SystemSummary:
    report, checked = latest_worker_report()
    problems = []
    if report is not None:
        problems = [
            f"{check['name']}: {check['detail']}"
            for check in report.get("checks", [])
            if not check.get("ok") and check.get("required") and not check.get("note")
        ]
    return SystemSummary(
        checked=checked, ok=None if report is None else bool(report.get("ok")), problems=problems,
        worker_alive=worker_alive(),
    )  # fmt: skip
