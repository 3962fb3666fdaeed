"""django-q2 task entry points for the hooks app."""

from django.utils import timezone

from hooks.models import ExecutionState, ScriptExecution
from hooks.services.testing import run_test


def run_script_test(execution_id: int) -> str:
    # Claimed in one UPDATE: a test the broker hands out again (after `retry`) runs once.
    claimed = ScriptExecution.objects.filter(pk=execution_id, state=ExecutionState.PENDING).update(
        state=ExecutionState.RUNNING, started=timezone.now()
    )
    if not claimed:
        return "already run"
    return run_test(ScriptExecution.objects.get(pk=execution_id)).outcome
