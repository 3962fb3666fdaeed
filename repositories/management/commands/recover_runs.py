from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = 'Finish runs whose worker died: status failure, reason "interrupted", then their pending post steps.'
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument(
            "--stale-after",
            type=int,
            default=None,
            metavar="SECONDS",
            help="a run whose heartbeat is older than this is dead (default: BORGUI_STALE_AFTER_SECONDS, 30)",
        )

    def handle(self, *args, stale_after, **options):
        from repositories.services.recovery import recover_runs

        recovered = recover_runs(stale_after)
        for run in recovered:
            self.stdout.write(f"recovered run {run.pk} of plan {run.plan.name}: failure (interrupted)")
        self.stdout.write(f"{len(recovered)} run(s) recovered")
