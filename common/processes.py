"""Child processes that end with the worker that started them.

borg and hook scripts run as children of a worker. If the worker is killed, a borg left
running would keep its repository lock, and a hook would run on beside the recovery that
runs the post steps: PR_SET_PDEATHSIG sends them SIGTERM when their parent dies.
"""

import ctypes
import signal

PR_SET_PDEATHSIG = 1
# Loaded in the parent: between fork and exec the child must not load libraries (another
# thread of the parent may have held the loader's lock at the fork).
_libc = ctypes.CDLL(None, use_errno=True)


def die_with_parent() -> None:
    """A ``preexec_fn``: SIGTERM to this child when the thread that started it ends."""
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
