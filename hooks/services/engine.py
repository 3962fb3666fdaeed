"""Running hooks in a backup: the hook engine behind the pipeline's hook points.

Each hook run is recorded as a ScriptExecution before it starts and completed after, so
the run page lists every hook in order with its output.
"""

import logging
import os
from dataclasses import dataclass, field

from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone

from common.processes import kill_left_group, mark_group
from common.ssh import pinned_known_hosts
from hooks.models import (
    ExecutionState,
    ExecutionTarget,
    HookAttachment,
    HookType,
    OnFailure,
    RunOn,
    Script,
    ScriptExecution,
)
from hooks.parameters import Declared, resolve_values
from hooks.services import chains
from hooks.services.environment import (
    HookContext,
    PlanInfo,
    RepositoryInfo,
    SourceHost,
    build_hook_environment,
    build_remote_environment,
    injected_variables,
)
from hooks.services.live_output import LiveOutput
from hooks.services.runner import OutputCallback, ScriptResult, run_script, run_script_over_ssh
from repositories.borg import ssh_target
from repositories.services.steps import PartialSteps, Phase, PlanPreview, RunTimeline, Step, StepContext
from repositories.status import ChainOutcome, Status

logger = logging.getLogger(__name__)


@dataclass
class RunnableHook:
    """One hook ready to run: a library script through an attachment or a test, or an inline hook."""

    name: str
    body: str
    timeout: int
    target: str = ExecutionTarget.LOCAL
    approved: bool = True
    on_failure: str = OnFailure.FAIL
    run_on: str = RunOn.ALWAYS
    values: dict[str, str] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    script: Script | None = None
    attachment: HookAttachment | None = None
    legacy_inline: bool = False

    @classmethod
    def for_script(cls, script: Script, given: dict[str, str], **fields) -> "RunnableHook":
        """SCRIPT with the GIVEN parameter values resolved against its declared parameters."""
        declared = declared_parameters(script)
        values, missing = resolve_values(declared, given)
        secret_names = {p.name for p in declared if p.secret}
        fields.setdefault("timeout", script.timeout)
        fields.setdefault("approved", script.is_approved)
        return cls(
            name=script.name,
            body=script.body,
            target=script.execution_target,
            values=values,
            secrets=[values[name] for name in secret_names if values.get(name)],
            missing=missing,
            script=script,
            **fields,
        )


def declared_parameters(script: Script) -> list[Declared]:
    return [Declared(p.name, p.default, p.required, p.secret) for p in script.parameters.all()]


def hook_for_attachment(attachment: HookAttachment) -> RunnableHook:
    return RunnableHook.for_script(
        attachment.script,
        attachment.values(),
        timeout=attachment.effective_timeout,
        on_failure=attachment.effective_on_failure,
        run_on=attachment.effective_run_on,
        attachment=attachment,
    )


def hook_for_inline(repository, hook_type: str) -> RunnableHook | None:
    body = repository.inline_hook_in_effect(hook_type)
    if not body:
        return None
    field_name = "pre_backup_script" if hook_type == HookType.PRE_BACKUP else "post_backup_script"
    return RunnableHook(
        name=f"{field_name} of {repository.name}",
        body=body,
        timeout=settings.BORGUI_INLINE_HOOK_TIMEOUT,
        approved=repository.inline_hook_approved(hook_type),
        on_failure=OnFailure.FAIL if hook_type == HookType.PRE_BACKUP else OnFailure.CONTINUE,
        legacy_inline=True,
    )


def attachments_of(owner, hook_type: str) -> list[HookAttachment]:
    attachments = owner.hook_attachments.filter(hook_type=hook_type).select_related("script")
    return chains.in_order(attachments.prefetch_related("script__parameters"))


def repository_hooks(repository, hook_type: str) -> list[RunnableHook]:
    """A repository's library hooks; its inline hook only when it has none of that type."""
    hooks = [hook_for_attachment(a) for a in attachments_of(repository, hook_type)]
    if not hooks:
        inline = hook_for_inline(repository, hook_type)
        if inline is not None:
            hooks.append(inline)
    return hooks


# --- running one hook --------------------------------------------------------------------


def _refusal(hook: RunnableHook, source_connection) -> str:
    if not hook.approved:
        return f"script {hook.name} is not approved"
    if hook.missing:
        return f"script {hook.name}: missing required parameter {', '.join(hook.missing)}"
    if hook.target == ExecutionTarget.SOURCE and source_connection is None:
        return f"script {hook.name} runs on the source host, but no source connection is set"
    return ""


def execute_hook(
    hook: RunnableHook,
    context: HookContext,
    source_connection=None,
    record: dict | None = None,
    extra_secrets: list[str] | None = None,
    execution: ScriptExecution | None = None,
) -> ScriptExecution:
    """Run one hook (refusing unapproved code) and record it: in ``execution`` when given
    (a queued script test), else in a new row with the ``record`` fields."""
    if execution is None:
        execution = ScriptExecution.objects.create(
            script=hook.script,
            script_name=hook.name,
            attachment=hook.attachment,
            hook_type=context.hook_type,
            state=ExecutionState.RUNNING,
            started=timezone.now(),
            **(record or {}),
        )
    else:
        execution.state, execution.started = ExecutionState.RUNNING, timezone.now()
        execution.save(update_fields=["state", "started"])
    refusal = _refusal(hook, source_connection)
    if refusal:
        return complete_execution(execution, not_run(refusal))
    try:
        secrets = [*hook.secrets, *(extra_secrets or [])]
        with LiveOutput(execution.pk) as live:
            result = _run(
                hook,
                context,
                source_connection,
                secrets,
                live.on_output,
                on_start=lambda pid: _record_group(execution, pid),
            )
    except Exception as e:
        # A hook that cannot even start (a value the OS refuses…) is still recorded, as failed.
        logger.exception("hook %s could not run", hook.name)
        result = not_run(f"script {hook.name} could not run: {e}")
    return complete_execution(execution, result)


INTERRUPTED = "interrupted: the worker running it stopped"


def _record_group(execution: ScriptExecution, pid: int) -> None:
    mark = mark_group(pid)
    if mark is None:
        return
    try:
        ScriptExecution.objects.filter(pk=execution.pk).update(
            process_group=mark.pgid, process_started=mark.started, process_machine=mark.machine
        )
    except DatabaseError:  # the hook runs on; only a later recovery would miss its group
        logger.warning("hook run %s: could not record its process group", execution.pk, exc_info=True)


def mark_interrupted(executions) -> int:
    """Finish the still running EXECUTIONS whose worker died, as failed, and end what their
    scripts left running (the hook itself died with its worker)."""
    for execution in executions.filter(state=ExecutionState.RUNNING).exclude(process_group=None):
        killed = kill_left_group(execution.group_mark())
        if killed:
            logger.info("hook run %s: killed %d process(es) its script left running", execution.pk, killed)
    return executions.filter(state=ExecutionState.RUNNING).update(
        state=ExecutionState.DONE, error=INTERRUPTED, finished=timezone.now()
    )


def not_run(error: str) -> ScriptResult:
    """The result of a hook that never started: recorded as failed, with ERROR as the reason."""
    return ScriptResult(exit_code=None, signal=None, timed_out=False, duration=0.0, stdout="", stderr="", error=error)


def _run(
    hook: RunnableHook, context: HookContext, source_connection, secrets: list[str], on_output: OutputCallback, on_start
) -> ScriptResult:
    if hook.target == ExecutionTarget.SOURCE:
        return run_script_over_ssh(
            hook.body,
            build_remote_environment(context, hook.values),
            hook.timeout,
            ssh_target(source_connection),
            secrets=secrets,
            on_output=on_output,
            known_hosts_file=str(pinned_known_hosts(source_connection.pk)),
            on_start=on_start,
        )
    env = build_hook_environment(os.environ, context, hook.values)
    return run_script(hook.body, env, hook.timeout, secrets=secrets, on_output=on_output, on_start=on_start)


# What the end of a hook run changes, in its one UPDATE; `started` for a run that ends
# without having started (a queued test of a deleted script).
COMPLETED_FIELDS = [
    "exit_code",
    "signal",
    "timed_out",
    "error",
    "duration",
    "stdout",
    "stderr",
    "state",
    "started",
    "finished",
]


def complete_execution(execution: ScriptExecution, result: ScriptResult) -> ScriptExecution:
    execution.exit_code = result.exit_code
    execution.signal = result.signal
    execution.timed_out = result.timed_out
    execution.error = result.error[:500]
    execution.duration = result.duration
    execution.stdout, execution.stderr = result.stdout, result.stderr
    execution.state, execution.finished = ExecutionState.DONE, timezone.now()
    execution.save(update_fields=COMPLETED_FIELDS)
    return execution


# --- the hook points of a plan run -------------------------------------------------------


def source_host(connection) -> SourceHost | None:
    if connection is None:
        return None
    return SourceHost(connection.host, connection.port, connection.username)


def repository_info(repository) -> RepositoryInfo:
    return RepositoryInfo(repository.pk, repository.name, repository.location)


def plan_hook_context(plan, run_id: int, hook_type: str, status: Status | None = None):
    """A plan hook's context, its source connection and the secrets masked in its output."""
    repositories = plan.ordered_repositories()
    only = repositories[0] if len(repositories) == 1 else None
    connection = plan.source_connection or (only.source_connection if only else None)
    context = HookContext(
        hook_type=hook_type,
        backup_status=status.value if status is not None else None,
        repository=repository_info(only) if only else None,
        job_id=run_id,
        source=source_host(connection),
        plan=PlanInfo(plan.pk, plan.name, run_id),
    )
    secrets = [only.passphrase] if only and only.passphrase else []
    return context, connection, secrets


def job_hook_context(plan, repository, job_id: int, hook_type: str, hook: RunnableHook, status: Status | None = None):
    """A repository hook's context, its source connection and the secrets masked in its output."""
    connection = repository.source_connection or plan.source_connection
    context = HookContext(
        hook_type=hook_type,
        backup_status=status.value if status is not None else None,
        repository=repository_info(repository),
        job_id=job_id,
        source=source_host(connection),
        legacy_inline=hook.legacy_inline,
    )
    secrets = [repository.passphrase] if repository.passphrase else []
    return context, connection, secrets


# --- what the chains will run, what they ran (docs/running-plans.md, "What will run") ------

# A preview knows no run yet: these variables are shown by what they will hold.
NOT_YET = {
    "BORG_UI_PLAN_RUN_ID": "(the run's id)",
    "BORG_UI_JOB_ID": "(the run's or job's id)",
    "BORG_UI_BACKUP_STATUS": "(the backup's status)",
}
MASK = "***"


def shown_environment(hook: RunnableHook, context: HookContext) -> dict[str, str]:
    """The variables borgui sets for HOOK (its parameters and BORG_UI_*), secrets masked."""
    secret = set(hook.secrets)
    env = {name: MASK if value in secret else value for name, value in hook.values.items()}
    env.update(injected_variables(context))
    if context.hook_type == HookType.POST_BACKUP:
        env["BORG_UI_BACKUP_STATUS"] = ""
    return {name: NOT_YET.get(name, value) for name, value in sorted(env.items())}


def _preview_step(phase: Phase, hook: RunnableHook, context, connection, index: int = 0) -> Step:
    step = Step(phase, "hook", f"{context.hook_type} hook {hook.name}", repository_index=index)
    step.facts.append(("on_failure", hook.on_failure))
    if context.hook_type == HookType.POST_BACKUP and hook.attachment is not None:
        step.facts.append(("run_on", hook.run_on))
    step.facts.append(
        ("runs on", "the source host (over SSH)" if hook.target == ExecutionTarget.SOURCE else "the worker")
    )
    step.facts.append(("timeout", f"{hook.timeout} s"))
    if hook.legacy_inline:
        step.notes.append(
            "a legacy inline hook of the repository (it runs because no library hook of this type is attached)"
        )
    if hook.target == ExecutionTarget.LOCAL:
        step.notes.append("it also inherits the worker's environment (PATH, DOCKER_HOST…), without borgui's secrets")
    step.environment = shown_environment(hook, context)
    refusal = _refusal(hook, connection)
    if refusal:
        step.problems.append(refusal)
    return step


PHASES = {
    (HookType.PRE_BACKUP, False): Phase.PLAN_PRE,
    (HookType.PRE_BACKUP, True): Phase.REPOSITORY_PRE,
    (HookType.POST_BACKUP, True): Phase.REPOSITORY_POST,
    (HookType.POST_BACKUP, False): Phase.PLAN_POST,
}


class HookPreview:
    """The preview and timeline of the hook chains; HookSteps carries them."""

    def preview(self, preview: PlanPreview) -> None:
        plan = preview.plan
        for hook_type in (HookType.PRE_BACKUP, HookType.POST_BACKUP):
            context, connection, _secrets = plan_hook_context(plan, 0, hook_type)
            for attachment in attachments_of(plan, hook_type):
                hook = hook_for_attachment(attachment)
                preview.add(_preview_step(PHASES[(hook_type, False)], hook, context, connection))
            for index, repository in enumerate(preview.repositories):
                for hook in repository_hooks(repository, hook_type):
                    context, connection, _secrets = job_hook_context(plan, repository, 0, hook_type, hook)
                    preview.add(_preview_step(PHASES[(hook_type, True)], hook, context, connection, index))

    def timeline(self, timeline: RunTimeline) -> None:
        executions = ScriptExecution.objects.filter(run=timeline.run).order_by("id")
        for execution in executions.select_related("job"):
            phase = PHASES.get((execution.hook_type, execution.job_id is not None))
            if phase is None:
                continue
            outputs = [
                (label, text) for label, text in (("stdout", execution.stdout), ("stderr", execution.stderr)) if text
            ]
            done = execution.state == ExecutionState.DONE
            timeline.add(Step(
                phase, "hook", f"{execution.hook_type} hook {execution.script_name}",
                repository_index=timeline.index_of_job(execution.job_id), job_id=execution.job_id,
                started=execution.started, duration=execution.duration if done else None,
                status=(Status.SUCCESS if execution.succeeded else Status.FAILURE) if done else Status.RUNNING,
                facts=[("outcome", execution.outcome)], notes=[execution.error] if execution.error else [],
                outputs=outputs, links=[("hook run", execution.get_absolute_url())],
            ))  # fmt: skip


class HookSteps(HookPreview, PartialSteps):
    """Plan and repository hook chains (docs/running-plans.md#pre-backup-hooks steps 1, 2a, 2d, 3)."""

    # --- contexts ---

    def _plan_context(self, ctx: StepContext, hook_type: str, status: Status | None = None):
        return plan_hook_context(ctx.run.plan, ctx.run.pk, hook_type, status)

    def _job_context(self, ctx: StepContext, job, hook_type: str, hook: RunnableHook, status: Status | None = None):
        return job_hook_context(ctx.run.plan, job.repository, job.pk, hook_type, hook, status)

    # --- running chains ---

    def _run_one(self, ctx, hook, context, connection, secrets, job=None) -> ScriptExecution:
        record = {"run": ctx.run, "job": job}
        execution = execute_hook(hook, context, connection, record=record, extra_secrets=secrets)
        where = f"{job.repository.name} " if job is not None else "plan "
        ctx.log(f"{where}{context.hook_type} hook {hook.name}: {execution.outcome} ({execution.duration or 0:.2f} s)")
        if execution.error:
            ctx.log(f"{where}{context.hook_type} hook {hook.name}: {execution.error}")
        return execution

    def _pre_chain(self, ctx, hooks: list[RunnableHook], context_for) -> ChainOutcome:
        def results():
            for hook in hooks:
                context, connection, secrets = context_for(hook)
                execution = self._run_one(ctx, hook, context, connection, secrets, job=ctx.job)
                yield execution.succeeded, hook.on_failure

        outcome, _ran = chains.pre_chain_outcome(results())
        return outcome

    def _post_chain(self, ctx, hooks: list[RunnableHook], status: Status, context_for) -> Status:
        # Filtered against the status when the chain starts; every matching hook runs.
        failed = []
        for hook in hooks:
            if hook.attachment is not None and not RunOn(hook.run_on).matches(status.value):
                continue
            context, connection, secrets = context_for(hook)
            execution = self._run_one(ctx, hook, context, connection, secrets, job=ctx.job)
            if not execution.succeeded:
                failed.append(hook.on_failure)
        return chains.post_chain_status(status, failed)

    # --- the hook points ---

    def plan_pre(self, ctx: StepContext) -> ChainOutcome:
        hooks = [hook_for_attachment(a) for a in attachments_of(ctx.run.plan, HookType.PRE_BACKUP)]
        if not hooks:
            return ChainOutcome.OK
        context = self._plan_context(ctx, HookType.PRE_BACKUP)  # the same for every plan hook
        return self._pre_chain(ctx, hooks, lambda hook: context)

    def repository_pre(self, ctx: StepContext, job) -> ChainOutcome:
        hooks = repository_hooks(job.repository, HookType.PRE_BACKUP)
        return self._pre_chain(ctx, hooks, lambda hook: self._job_context(ctx, job, HookType.PRE_BACKUP, hook))

    def repository_post(self, ctx: StepContext, job, status: Status) -> Status:
        hooks = repository_hooks(job.repository, HookType.POST_BACKUP)
        return self._post_chain(
            ctx, hooks, status, lambda hook: self._job_context(ctx, job, HookType.POST_BACKUP, hook, status)
        )

    def after_run(self, ctx: StepContext) -> None:
        if not ctx.recovering:
            return
        # Hooks the dead worker was running died with it (PR_SET_PDEATHSIG); what they left
        # running in their process group is killed here.
        count = mark_interrupted(ScriptExecution.objects.filter(run=ctx.run))
        if count:
            ctx.log(f"{count} hook run(s) interrupted with the worker")

    def plan_post(self, ctx: StepContext, status: Status) -> Status:
        hooks = [hook_for_attachment(a) for a in attachments_of(ctx.run.plan, HookType.POST_BACKUP)]
        if not hooks:
            return status
        context = self._plan_context(ctx, HookType.POST_BACKUP, status)  # the same for every plan hook
        return self._post_chain(ctx, hooks, status, lambda hook: context)
