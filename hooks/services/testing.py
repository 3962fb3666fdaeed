"""Script tests (docs/hooks.md#testing-a-script): run a script as a hook would, outside a backup.

Needs the test permission, not approval: testing is how a reviewer sees what it does.
Recorded as a ScriptExecution of type `test`, queued on django-q2 from the admin and run
in the foreground by `manage.py test_script`.
"""

import json
from datetime import timedelta

from django.utils import timezone
from django_q.tasks import async_task

from hooks.models import SCRIPT_TEST, ExecutionState, HookType, Script, ScriptExecution
from hooks.services.engine import (
    RunnableHook,
    complete_execution,
    execute_hook,
    mark_interrupted,
    not_run,
    repository_info,
    source_host,
)
from hooks.services.environment import HookContext

TASK = "hooks.tasks.run_script_test"
# The runner ends a script at its timeout (then SIGKILL after a grace): a test still
# "running" this long after that lost its worker.
INTERRUPTED_AFTER_TIMEOUT = timedelta(minutes=2)
BACKUP_STATUSES = ("success", "failure", "warning")


class TestRequestError(ValueError):
    """The test cannot be run as asked; the message is one line for the user."""


def create_test(
    script: Script,
    requested_by: str,
    repository=None,
    hook_type: str = HookType.PRE_BACKUP,
    backup_status: str = "success",
    parameters: dict[str, str] | None = None,
) -> ScriptExecution:
    if hook_type not in HookType.values:
        raise TestRequestError(f"hook type must be one of {', '.join(HookType.values)}")
    if backup_status not in BACKUP_STATUSES:
        raise TestRequestError(f"backup status must be one of {', '.join(BACKUP_STATUSES)}")
    declared = {p.name for p in script.parameters.all()}
    unknown = sorted(set(parameters or {}) - declared)
    if unknown:
        raise TestRequestError(f"{', '.join(unknown)}: not a parameter of script {script.name}")
    return ScriptExecution.objects.create(
        script=script,
        script_name=script.name,
        hook_type=SCRIPT_TEST,
        test_repository=repository,
        test_hook_type=hook_type,
        test_backup_status=backup_status if hook_type == HookType.POST_BACKUP else "",
        test_parameters=json.dumps(parameters or {}),
        requested_by=requested_by,
    )


def queue_test(execution: ScriptExecution) -> None:
    # No django-q timeout: the runner ends the script at its own timeout, which may be
    # longer than the cluster's; the task claims its row, so a second delivery does nothing.
    async_task(TASK, execution.pk, q_options={"timeout": -1, "group": f"script-test:{execution.script_id}"})


def _context(execution: ScriptExecution) -> tuple[HookContext, object]:
    repository = execution.test_repository
    connection = repository.source_connection if repository else None
    context = HookContext(
        hook_type=execution.test_hook_type,
        backup_status=execution.test_backup_status or None,
        repository=repository_info(repository) if repository else None,
        source=source_host(connection),
    )
    return context, connection


def run_test(execution: ScriptExecution) -> ScriptExecution:
    """Run a recorded test now (in this process)."""
    script = execution.script
    if script is None:
        execution.state, execution.started = ExecutionState.RUNNING, timezone.now()
        return complete_execution(execution, not_run("the script was deleted"))
    given = json.loads(execution.test_parameters or "{}")
    # A test needs the test permission, not approval.
    hook = RunnableHook.for_script(script, given, approved=True)
    context, connection = _context(execution)
    return execute_hook(hook, context, connection, execution=execution)


def expire_interrupted_tests() -> int:
    """Tests still running long past their script's timeout: their worker died."""
    now = timezone.now()
    stale = [
        execution.pk
        for execution in ScriptExecution.objects.filter(hook_type=SCRIPT_TEST, state=ExecutionState.RUNNING)
        .exclude(started=None)
        .select_related("script")
        if execution.started
        + timedelta(seconds=execution.script.timeout if execution.script else 0)
        + INTERRUPTED_AFTER_TIMEOUT
        < now
    ]
    return mark_interrupted(ScriptExecution.objects.filter(pk__in=stale)) if stale else 0
