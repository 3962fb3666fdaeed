"""Retention only prunes a plan's own archives (docs/running-plans.md#retention): checks for admin, config, prune."""

from repositories import archive_names
from repositories.models import BackupPlan, Repository
from repositories.services.remote_sources import other_host_problems


def retention_conflicts(plan: BackupPlan, repositories: list[Repository]) -> list[str]:
    """Why pruning this plan on these repositories could delete another plan's archives."""
    if not plan.has_retention:
        return []
    problem = archive_names.retention_prefix_problem(plan.archive_name, plan.name)
    if problem:
        return [problem]
    problems = []
    others = BackupPlan.objects.exclude(pk=plan.pk).filter(repositories__in=repositories).distinct()
    for other in others.prefetch_related("repositories"):
        for repository in repositories:
            if repository not in other.repositories.all():
                continue
            mine = archive_names.fixed_prefix(plan.archive_name, plan.name, repository.name)
            theirs = archive_names.fixed_prefix(other.archive_name, other.name, repository.name)
            if archive_names.prefix_covers(mine, theirs):
                problems.append(
                    f"on repository {repository.name} the archives of plan {other.name} ({theirs}…) "
                    f"match this plan's prefix {mine}…: prune could delete them; give the plans distinct "
                    "name starts or separate repositories"
                )
    return problems


def plan_repository_problems(plan: BackupPlan, repositories: list[Repository]) -> list[str]:
    """What is refused about a plan's repositories (admin and apply_config): none at all, or
    retention that could prune another plan's archives on one of them."""
    if not repositories:
        return ["Add at least one repository."]
    return [
        *(f"Retention refused: {problem}" for problem in retention_conflicts(plan, repositories)),
        *other_host_problems(plan, repositories),  # docs/remote-sources.md
    ]
