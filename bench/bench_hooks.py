"""Hook overhead benchmark (issue 4): 50 no-op hooks around one backup, borgui against the
same 50 scripts run by a plain shell loop, side by side in one run.

Run from the repository root: ``.venv/bin/python bench/bench_hooks.py``. It prints the
per-hook overhead; it asserts nothing. (``bench/bench_hooks_output.py`` measures the
runner alone and the memory of a hook that writes 1 GiB.)

The cost of the hooks inside a backup is the run with 50 hooks minus the same run without
them (median of several), so borg's own time cancels out; each hook there is resolved,
recorded as a ScriptExecution before and after, run, and logged.
"""

import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_backup import prepare_environment  # noqa: E402
from bench.bench_hooks_output import HOOKS, NO_OP, time_shell_loop  # noqa: E402

ROUNDS = 5


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="borgui-bench-hooks-"))
    prepare_environment(work)
    from hooks.models import HookAttachment, Script
    from repositories import borg
    from repositories.models import BackupPlan, PlanRepository, Repository
    from repositories.services import runs

    source = work / "src"
    source.mkdir()
    (source / "file").write_text("data\n")

    def plan_with(name: str, hooks: int) -> BackupPlan:
        repository = Repository.objects.create(name=name, location=str(work / name), encryption="none")
        assert borg.init(repository).ok
        plan = BackupPlan.objects.create(name=f"plan-{name}", sources=[str(source)])
        PlanRepository.objects.create(plan=plan, repository=repository)
        if hooks:
            script = Script.objects.create(name=f"noop-{name}", body=NO_OP)
            script.approve("bench")
            HookAttachment.objects.bulk_create(
                HookAttachment(script=script, repository=repository, hook_type="pre-backup", order=i)
                for i in range(hooks)
            )
        return plan

    bare, hooked = plan_with("bare", 0), plan_with("hooked", HOOKS)

    def timed_run(plan) -> float:
        started = time.perf_counter()
        run = runs.run_in_foreground(plan)
        assert run.status == "success", run.log
        return time.perf_counter() - started

    timed_run(bare), timed_run(hooked)  # warm caches on both
    without = statistics.median(timed_run(bare) for _ in range(ROUNDS))
    with_hooks = statistics.median(timed_run(hooked) for _ in range(ROUNDS))
    loop = statistics.median(time_shell_loop(Path(tempfile.mkdtemp(dir=work))) for _ in range(ROUNDS))
    per_hook_borgui = (with_hooks - without) / HOOKS
    per_hook_shell = loop / HOOKS
    print(f"backup without hooks: {without * 1000:.0f} ms; with {HOOKS} no-op hooks: {with_hooks * 1000:.0f} ms")
    print(f"plain shell loop over the same {HOOKS} scripts: {loop * 1000:.0f} ms")
    print(f"per hook: borgui {per_hook_borgui * 1000:.1f} ms, shell {per_hook_shell * 1000:.1f} ms")
    print(f"borgui overhead per hook: {(per_hook_borgui - per_hook_shell) * 1000:.1f} ms (target < 10 ms)")
    print(f"ratio borgui/shell per hook: {per_hook_borgui / per_hook_shell:.1f}x")


if __name__ == "__main__":
    main()
