"""What a plan will run, and what a run did (docs/running-plans.md, "What will run" and
"Reading a run"): the steps this app owns (leases, borg create, prune), and those the
registered apps add through the step registry (hooks, the container stop, archives)."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from django.conf import settings

from common.humanize import human_duration, human_size
from repositories import archive_names, borg
from repositories.models import BackupPlan, PlanRun
from repositories.services import leases, remote_sources, steps
from repositories.services.retention import retention_conflicts
from repositories.services.steps import Phase, PlanPreview, RunTimeline, Step
from repositories.status import Status, status_from_borg_exit


def plan_zone(plan: BackupPlan) -> str:
    """Archive names are rendered in the plan's time zone (UTC without one)."""
    return plan.timezone or "UTC"


def build_preview(plan: BackupPlan) -> PlanPreview:
    repositories = plan.ordered_repositories()
    preview = PlanPreview(plan=plan, repositories=repositories)
    _leases(preview)
    now = datetime.now(ZoneInfo(plan.timezone) if plan.timezone else UTC)
    sources = remote_sources.planned_sources(plan)
    for index, repository in enumerate(repositories):
        _create(preview, index, repository, now, sources)
        _prune(preview, index, repository)
    steps.preview(preview)
    return preview


def _leases(preview: PlanPreview) -> None:
    plan, repositories = preview.plan, preview.repositories
    step = Step(
        Phase.LEASES, "leases", "Leases on the repositories",
        facts=[
            ("repositories (in id order)", ", ".join(r.name for r in sorted(repositories, key=lambda r: r.pk))),
            ("waits at most", f"{human_duration(settings.BORGUI_LEASE_WAIT_SECONDS)} for another run to finish"),
        ],
    )  # fmt: skip
    if not repositories:
        step.problems.append(f"plan {plan.name} has no repository: a run would back up nothing")
    for repository in repositories:
        holder = leases.holder(repository)
        if holder is not None:
            step.notes.append(f"{repository.name} is held now by run {holder.pk} of plan {holder.plan.name}")
    preview.add(step)


def _create(preview: PlanPreview, index: int, repository, now, sources) -> None:
    plan = preview.plan
    archive = archive_names.render(plan.archive_name, plan.name, repository.name, now)
    args = borg.plan_create_args(plan, repository, archive, sources.paths, sources.options)
    step = Step(
        Phase.CREATE, "borg create", f"borg create to {repository.name}", repository_index=index,
        command=borg.command_line(args),
        facts=[("archive name", f"{archive} (time zone {plan_zone(plan)})"), ("repository", repository.location)],
    )  # fmt: skip
    if sources.cwd:
        step.notes.append(f"the sources are mounted from the source host under {sources.cwd} first")
    if not repository.initialised:
        step.problems.append(
            f"repository {repository.name} is not initialised: use Initialise (or Import existing) on its page"
        )
    refused = borg.refused_location(repository)
    if refused is not None:
        step.problems.append(f"{repository.name}: {refused.error_line()}")
    step.problems.extend(remote_sources.other_host_problems(plan, [repository]) if sources.cwd else [])
    preview.add(step)


def _prune(preview: PlanPreview, index: int, repository) -> None:
    plan = preview.plan
    if not plan.has_retention:
        preview.add(Step(Phase.PRUNE, "prune", "no prune: the plan keeps every archive", repository_index=index))
        return
    prefix = archive_names.fixed_prefix(plan.archive_name, plan.name, repository.name)
    step = Step(
        Phase.PRUNE, "prune", f"borg prune of {repository.name} (only {prefix}* archives)", repository_index=index,
        command=borg.command_line(borg.prune_args(repository, prefix, plan.retention_options())),
        notes=["only after a backup that did not fail"],
    )  # fmt: skip
    step.notes.extend(f"prune refused: {conflict}" for conflict in retention_conflicts(plan, [repository]))
    preview.add(step)


# --- a run's timeline -----------------------------------------------------------------------


def build_timeline(run: PlanRun) -> RunTimeline:
    jobs = list(run.jobs.select_related("repository").order_by("order", "id"))
    timeline = RunTimeline(run=run, jobs=jobs)
    steps.timeline(timeline)
    for index, job in enumerate(jobs):
        _job_steps(timeline, index, job)
    return timeline


def _between(start, end):
    return end - start if start and end else None


def _job_steps(timeline: RunTimeline, index: int, job) -> None:
    name = job.repository.name
    if job.create_started is None:
        if job.status == Status.SKIPPED or job.finished:
            timeline.add(Step(
                Phase.CREATE, "borg create", f"no borg create to {name}", repository_index=index, job_id=job.pk,
                status=job.status, notes=[job.reason] if job.reason else [],
            ))  # fmt: skip
        return
    running = job.create_finished is None
    step = Step(
        Phase.CREATE, "borg create", f"borg create to {name}", repository_index=index, job_id=job.pk,
        status=Status.RUNNING if running else status_from_borg_exit(job.borg_exit_code),
        started=job.create_started, duration=_between(job.create_started, job.create_finished),
        outputs=[("borg's output", job.log)] if job.log else [],
        links=timeline.job_links.get(job.pk, []),
        facts=_stats(job),
    )  # fmt: skip
    if job.reason:
        step.notes.append(job.reason)
    timeline.add(step)
    if job.prune_started:
        timeline.add(Step(
            Phase.PRUNE, "prune", f"borg prune of {name}", repository_index=index, job_id=job.pk,
            status=Status.RUNNING if job.prune_finished is None else status_from_borg_exit(job.prune_exit_code),
            started=job.prune_started, duration=_between(job.prune_started, job.prune_finished),
            outputs=[("borg's output", job.prune_log)] if job.prune_log else [],
        ))  # fmt: skip


def _stats(job) -> list[tuple[str, str]]:
    facts = [("archive", job.archive_name)] if job.archive_name else []
    if job.nfiles is not None:
        facts += [
            ("files", str(job.nfiles)),
            ("original size", human_size(job.original_size)),
            ("compressed", human_size(job.compressed_size)),
            ("deduplicated (new data)", human_size(job.deduplicated_size)),
        ]
    elif job.progress_files or job.progress_bytes:
        facts.append(("so far", f"{job.progress_files} files, {human_size(job.progress_bytes)}"))
    return facts
