"""A running hook's output, saved to its record while it runs (docs/hooks.md#script-executions).

The runner hands every masked piece of output to ``on_output``; a thread writes the bounded
text (the same head and tail the finished record keeps) to the execution every
``LIVE_OUTPUT_SECONDS`` when something new came, so the run and execution pages show a
long hook's output as it goes. The finished record is written by the hook's own thread
after this one stopped, so the last save never overwrites it.
"""

import threading

from django.db import close_old_connections, connection

from common.text import SharedBoundedText
from hooks.models import ExecutionState, ScriptExecution

LIVE_OUTPUT_SECONDS = 2.0


class LiveOutput:
    def __init__(self, execution_id: int, interval: float = LIVE_OUTPUT_SECONDS):
        self.execution_id = execution_id
        self.interval = interval
        self.streams = {"stdout": SharedBoundedText(), "stderr": SharedBoundedText()}
        self._saved = (0, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"hook-{execution_id}-output", daemon=True)

    def on_output(self, name: str, text: str) -> None:
        self.streams[name].append(text)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                self.save()
        finally:
            connection.close()

    def save(self) -> None:
        versions = (self.streams["stdout"].version, self.streams["stderr"].version)
        if versions == self._saved:
            return
        close_old_connections()
        ScriptExecution.objects.filter(pk=self.execution_id, state=ExecutionState.RUNNING).update(
            stdout=self.streams["stdout"].value(), stderr=self.streams["stderr"].value()
        )
        self._saved = versions
