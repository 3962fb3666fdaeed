from maintenance.management.commandkit import MaintenanceCommand


class Command(MaintenanceCommand):
    help = (
        "Restore drill: restore the plan's drill paths of its newest archive into a scratch directory and run its "
        "drill script there, in the foreground (exit 0 passed, 2 failed)."
    )

    def add_arguments(self, parser):
        parser.add_argument("plan", help="name of the backup plan")

    def handle(self, *args, plan, **options):
        from maintenance.models import MaintenanceKind

        self.run_job(MaintenanceKind.DRILL, plan=self.get_plan(plan))

    def summary(self, job) -> list[str]:
        results = job.results or {}
        if "archive" not in results:
            return []
        line = f"drill of {results['repository']}::{results['archive']}"
        if "exit_code" in results:
            line += f": {results['script']} exit {results['exit_code']}"
        return [line]
