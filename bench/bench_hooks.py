"""Hook overhead benchmark (issue 4, issue 10): 50 no-op hooks, borgui against the same 50
scripts run by a plain shell loop, side by side in one run.

Run from the repository root: ``.venv/bin/python bench/bench_hooks.py``. SQLite in a
temporary data directory unless DATABASE_URL is set (``postgres://…`` for PostgreSQL). It
prints per-hook times and ratios; it asserts nothing.

1. The hook chain of one job in a warm worker (the real ``HookSteps.repository_pre``): each
   hook is resolved, recorded as a ScriptExecution (one insert at start, one update at the
   end), run and logged. Beside it, its two parts alone: ``run_script``, and the recording
   of a refused hook (the same insert and update, no process). Rounds alternate between the
   four, so a change in the machine's load hits all of them alike.
2. The same hooks inside a whole backup: the run with 50 hooks minus the run without them,
   so borg's own time cancels out (noisier: borg's time varies by more than 50 hooks cost).

Target (issue 10): per hook, borgui ≤ 5× the shell loop.
"""

import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_backup import prepare_environment  # noqa: E402
from bench.bench_hooks_output import HOOKS, NO_OP, time_runner, time_shell_loop  # noqa: E402

ROUNDS = 7


def timed(function) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="borgui-bench-hooks-"))
    prepare_environment(work)
    from django.db import connection

    from hooks.models import HookAttachment, Script
    from hooks.services.engine import HookSteps, RunnableHook, execute_hook
    from hooks.services.environment import HookContext
    from repositories import borg
    from repositories.models import BackupPlan, PlanRepository, Repository, Trigger
    from repositories.services import pipeline, runs
    from repositories.services.monitor import RunLog
    from repositories.services.steps import StepContext
    from repositories.status import ChainOutcome

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

    bare, hooked, chained = plan_with("bare", 0), plan_with("hooked", HOOKS), plan_with("chain", HOOKS)
    print(f"database: {connection.vendor}; {HOOKS} no-op hooks; median of {ROUNDS} rounds")

    # 1. The chain alone, interleaved with the shell loop and the runner alone.
    chain_run = pipeline.create_run(chained, Trigger.CLI)  # left pending: its own plan
    job = chain_run.jobs.get()
    ctx = StepContext(run=chain_run, log=RunLog())
    engine = HookSteps()

    def chain() -> None:
        assert engine.repository_pre(ctx, job) == ChainOutcome.OK

    # A hook refused for want of approval is recorded exactly as one that runs (the insert
    # at start, the update at the end) but starts no process: the recording cost alone.
    refused = RunnableHook(name="refused", body=NO_OP, timeout=30, approved=False)
    refused_context = HookContext(hook_type="pre-backup", job_id=job.pk)

    def records() -> None:
        for _ in range(HOOKS):
            execute_hook(refused, refused_context, record={"run": chain_run, "job": job})

    loops = Path(tempfile.mkdtemp(dir=work))
    chain(), records(), time_runner([]), time_shell_loop(loops)  # warm up: imports, caches
    timings = {"chain": [], "records": [], "runner": [], "shell": []}
    for _ in range(ROUNDS):
        timings["chain"].append(timed(chain))
        timings["records"].append(timed(records))
        timings["runner"].append(time_runner([]))
        timings["shell"].append(time_shell_loop(loops))
    per = {name: statistics.median(values) / HOOKS for name, values in timings.items()}
    print("hook chain of one job, warm worker (ms per hook)")
    print(f"  plain shell loop                         {per['shell'] * 1000:6.2f}")
    print(f"  borgui hook (resolve, record, run, log)  {per['chain'] * 1000:6.2f}")
    print(f"    run_script alone                       {per['runner'] * 1000:6.2f}")
    print(f"    recording alone (insert + update)      {per['records'] * 1000:6.2f}")
    print(f"  ratio borgui/shell per hook              {per['chain'] / per['shell']:6.1f}x (target ≤ 5x)")

    # 2. Inside a whole backup.
    def timed_run(plan) -> float:
        started = time.perf_counter()
        run = runs.run_in_foreground(plan)
        assert run.status == "success", run.log
        return time.perf_counter() - started

    timed_run(bare), timed_run(hooked)  # warm caches on both
    without, with_hooks = [], []
    for _ in range(ROUNDS):
        without.append(timed_run(bare))
        with_hooks.append(timed_run(hooked))
    without_s, with_s = statistics.median(without), statistics.median(with_hooks)
    per_hook_backup = (with_s - without_s) / HOOKS
    print(f"inside a backup: without hooks {without_s * 1000:.0f} ms, with {HOOKS} hooks {with_s * 1000:.0f} ms")
    print(f"  per hook {per_hook_backup * 1000:.2f} ms, {per_hook_backup / per['shell']:.1f}x the shell loop")


if __name__ == "__main__":
    main()
