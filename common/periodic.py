"""A with-block that does some work every few seconds on its own thread: a run's heartbeat
and log, a hook's live output. The thread has its own database connection and closes it."""

import threading

from django.db import connection


class Periodic:
    def __init__(self, interval: float, name: str):
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def tick(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                self.tick()
        finally:
            connection.close()
