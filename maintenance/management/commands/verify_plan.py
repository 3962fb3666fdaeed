from django.core.management.base import CommandError

from maintenance.management.commandkit import MaintenanceCommand


class Command(MaintenanceCommand):
    help = (
        "Spot check: compare the plan's newest archive in each of its repositories with the live sources "
        "(file counts, and the content of a sample). Exit 0 ok, 2 mismatch or failed."
    )

    def add_arguments(self, parser):
        parser.add_argument("plan", help="name of the backup plan")
        parser.add_argument(
            "--sample-percent", type=float, metavar="P", help="share of comparable files to hash (at least 20)"
        )

    def handle(self, *args, plan, sample_percent, **options):
        from maintenance.models import MaintenanceKind
        from maintenance.services.scheduling import verify_options

        if sample_percent is not None and not 0 <= sample_percent <= 100:
            raise CommandError("--sample-percent must be between 0 and 100", returncode=2)
        backup_plan = self.get_plan(plan)
        job_options = verify_options(getattr(backup_plan, "maintenance", None))
        if sample_percent is not None:
            job_options["sample_percent"] = sample_percent
        self.run_job(MaintenanceKind.VERIFY, plan=backup_plan, options=job_options)

    def summary(self, job) -> list[str]:
        lines = []
        for r in job.results.get("repositories", []):
            lines.append(
                f"{r['repository']}: {r['status']} — archive {r['archive'] or '?'}: {r['archive_files']} files, "
                f"source {r['source_files']}, {r['comparable']} comparable, {r['compared']} compared"
                + (f" ({r['reason']})" if r["reason"] else "")
            )
            lines += [f"mismatch: {m['path']} ({m['reason']})" for m in r["mismatches"]]
            lines += [f"skipped: {s['path']} ({s['reason']})" for s in r["skipped"]]
        return lines
