"""A running hook's output, saved to its record while it runs (docs/hooks.md#script-executions).

The runner hands every masked piece of output to ``on_output``; a thread writes the bounded
text (the same head and tail the finished record keeps) to the execution every
``LIVE_OUTPUT_SECONDS`` when something new came, so the run and execution pages show a
long hook's output as it goes. The finished record is written by the hook's own thread
after this one stopped, so the last save never overwrites it.
"""

import logging

from django.db import DatabaseError, close_old_connections

from common.periodic import Periodic
from common.text import SharedBoundedText
from hooks.models import ExecutionState, ScriptExecution

LIVE_OUTPUT_SECONDS = 2.0
logger = logging.getLogger(__name__)


class LiveOutput(Periodic):
    def __init__(self, execution_id: int, interval: float = LIVE_OUTPUT_SECONDS):
        super().__init__(interval, name=f"hook-{execution_id}-output")
        self.execution_id = execution_id
        self.streams = {"stdout": SharedBoundedText(), "stderr": SharedBoundedText()}
        self._saved = (0, 0)

    def on_output(self, name: str, text: str) -> None:
        self.streams[name].append(text)

    def tick(self) -> None:
        try:
            self.save()
        except DatabaseError as e:  # a busy database: the next tick, or the finished record, saves it
            logger.warning("hook output of execution %s not saved yet: %s", self.execution_id, e)

    def save(self) -> None:
        versions = (self.streams["stdout"].version, self.streams["stderr"].version)
        if versions == self._saved:
            return
        close_old_connections()
        ScriptExecution.objects.filter(pk=self.execution_id, state=ExecutionState.RUNNING).update(
            stdout=self.streams["stdout"].value(), stderr=self.streams["stderr"].value()
        )
        self._saved = versions
