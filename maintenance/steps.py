"""Compact after prune (docs/maintenance.md): after a run whose prune removed an archive,
once its containers run again and it gave its leases back, the repository is compacted as
a maintenance job under a lease of its own. What happens here never changes the run."""

import logging

from maintenance.models import MaintenanceTrigger, RepositoryMaintenance
from repositories.models import Repository
from repositories.services.steps import PartialSteps

logger = logging.getLogger(__name__)


def compacts_after_prune(repository: Repository) -> bool:
    settings = RepositoryMaintenance.objects.filter(repository=repository).first()
    return settings is None or settings.compact_after_prune  # the default is true


class CompactAfterPruneSteps(PartialSteps):
    order = 300  # after the archive list refresh (200)

    def after_leases(self, ctx):
        from maintenance.models import MaintenanceKind
        from maintenance.services import jobs

        pruned = [pk for pk, count in ctx.pruned_archive_counts.items() if count]
        for repository in Repository.objects.filter(pk__in=pruned).order_by("pk"):
            if not compacts_after_prune(repository):
                continue
            try:
                job = jobs.create_job(
                    MaintenanceKind.COMPACT, repository=repository, trigger=MaintenanceTrigger.AFTER_PRUNE,
                    requested_by=f"run {ctx.run.pk}",
                )  # fmt: skip
                status = jobs.execute(job)
                ctx.log(f"{repository.name}: compact after prune (job {job.pk}): {status.value}")
            except jobs.AlreadyRunning as e:
                ctx.log(f"{repository.name}: compact after prune not started: {e}")
            except Exception as e:
                logger.exception("compact after prune failed")
                ctx.log(f"{repository.name}: compact after prune failed: {e}")
