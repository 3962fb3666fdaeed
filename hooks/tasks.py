"""django-q2 task entry points for the hooks app."""

from hooks.models import ExecutionState, ScriptExecution
from hooks.services.testing import run_test


def run_script_test(execution_id: int) -> str:
    execution = ScriptExecution.objects.filter(pk=execution_id, state=ExecutionState.PENDING).first()
    if execution is None:
        return "already run"
    return run_test(execution).outcome
