"""The archive list follows the backups (docs/archives.md): a new archive is recorded from
the backup's own `borg create --json`; after a prune the list is read again from borg,
once the run's containers are started again and its leases given back, under a lease of
its own."""

import logging

from django.db.models import Q
from django.urls import reverse

from archives.models import Archive
from archives.services import catalog
from repositories.models import Repository
from repositories.services.steps import PartialSteps, RunTimeline

logger = logging.getLogger(__name__)


class ArchiveListSteps(PartialSteps):
    order = 200

    def repository_post(self, ctx, job, status):
        created = ctx.created_archives.get(job.pk)
        if created:
            try:
                catalog.record_created(job.repository, ctx.run.plan, created, ctx.created_cache_stats.get(job.pk))
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

    def timeline(self, timeline: RunTimeline) -> None:
        """Each job's archive, linked to its browser on the run page."""
        made = [job for job in timeline.jobs if job.archive_name]
        if not made:
            return
        wanted = Q()
        for job in made:
            wanted |= Q(repository_id=job.repository_id, name=job.archive_name)
        rows = Archive.objects.filter(wanted).values_list("repository_id", "name", "pk")
        found = {(repository_id, name): pk for repository_id, name, pk in rows}
        for job in made:
            pk = found.get((job.repository_id, job.archive_name))
            if pk is not None:
                timeline.link(job.pk, f"browse {job.archive_name}", reverse("admin:archives_archive_browse", args=[pk]))
