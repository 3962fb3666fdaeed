"""The worker process is stopping: what it asks of the work it is running.

A worker process that gets SIGTERM (``docker stop``, systemd, ``kill -- -PGID``; see
docs/stopping.md) cancels the backup, restore or maintenance job it runs, as if its Cancel
button had been pressed: borg stops, the post steps run, the run is recorded as cancelled.
The signal handler only sets this flag; the job's monitor thread, which already polls the
cancel flag in the database every heartbeat, reads it too.
"""

_requested = False


def request() -> None:
    """Called from a signal handler: no locks, no I/O."""
    global _requested
    _requested = True


def requested() -> bool:
    return _requested


REASON = "the worker is stopping: cancelling"
