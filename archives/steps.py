"""The archive list follows the backups (docs/archives.md): a new archive is recorded from
the backup's own `borg create --json`; after a prune the list is read again from borg,
once the run's containers are started again and its leases given back, under a lease of
its own."""

import logging

from archives.services import catalog
from repositories.models import Repository
from repositories.services.steps import PartialSteps

logger = logging.getLogger(__name__)


class ArchiveListSteps(PartialSteps):
    order = 200

    def repository_post(self, ctx, job, status):
        created = ctx.created_archives.get(job.pk)
        if created:
            try:
                catalog.record_created(job.repository, ctx.run.plan, created)
            except Exception as e:  # the list is a cache: a failure here never fails the backup
                logger.exception("recording archive failed")
                ctx.log(f"{job.repository.name}: archive list not updated: {e}")
        return status

    def after_leases(self, ctx):
        for repository in Repository.objects.filter(pk__in=ctx.pruned_repository_ids).order_by("pk"):
            try:
                count = catalog.refresh(repository, holder=f"refresh after run {ctx.run.pk}")
                catalog.fill_stats(repository, list(catalog.archives_of(repository)))
                ctx.log(f"{repository.name}: archive list refreshed ({count} archives)")
            except Exception as e:
                logger.exception("archive list refresh failed")
                ctx.log(f"{repository.name}: archive list not refreshed: {e}")
