"""django-q2's ``qcluster``, stopping in seconds however it is told to (docs/stopping.md).

django-q2 alone hangs when every process of the cluster gets SIGTERM at once (systemd's
``KillMode=control-group``, ``kill -- -PGID``): its sentinel and worker processes die at
once (their SIGTERM is left at the default), and the main process's handler then blocks
for good in ``stop_event.set()``, a multiprocessing Condition waiting for the dead
sentinel to wake, with SIGINT ignored meanwhile (django-q2 issue #346: that handler blocks
on locks even without dead children; #23: a worker that dies holding the task queue's lock
stalls the others). Told to stop through its main process alone, it waits instead for
every running task to end: a backup of hours.

Here every process of the cluster survives SIGTERM. The main process's handler only notes
the request; its main loop then passes SIGTERM to the sentinel, which passes it to its
worker processes, and runs django-q2's own stop (poison pills, the workers join). A worker
process marks itself stopping (``common.shutdown``): the backup, restore or maintenance job
it runs is cancelled within a heartbeat, its post steps run, and the worker exits. If the
cluster has not stopped after ``BORGUI_STOP_GRACE_SECONDS``, its processes are killed; their
children die with them and the next worker's recovery finishes what they were doing.
"""

import os
import signal
import threading
import time

from django.conf import settings
from django_q import cluster as q_cluster
from django_q.management.commands import qcluster

from common import shutdown
from common.processes import descendants

_POLL = 0.2


class _Sentinel(q_cluster.Sentinel):
    """The sentinel, and (by fork) its pusher, monitor and workers, with a SIGTERM handler."""

    def start(self):
        sentinel_pid = os.getpid()

        def on_sigterm(signum, frame):
            if os.getpid() != sentinel_pid:
                shutdown.request()  # a forked worker (the pusher and monitor run no jobs)
                return
            for process in list(self.pool):  # spawn_cluster() replaces the list
                if process.pid is not None:
                    try:
                        os.kill(process.pid, signal.SIGTERM)
                    except ProcessLookupError:
                        pass

        signal.signal(signal.SIGTERM, on_sigterm)  # SIGINT stays ignored, as django-q2 has it
        super().start()


class Command(qcluster.Command):
    def handle(self, *args, **options):
        if options.get("cluster_name"):
            os.environ["Q_CLUSTER_NAME"] = options["cluster_name"]
        q_cluster.Sentinel = _Sentinel  # what Cluster.start() forks into
        cluster = q_cluster.Cluster()
        stop_requested = threading.Event()

        def on_signal(signum, frame):
            stop_requested.set()  # nothing else here: the main loop below does the stopping

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        cluster.start()
        if options.get("run_once"):
            cluster.stop()  # django-q2's own: lets the tasks it took finish
            return
        while cluster.sentinel.is_alive() and not stop_requested.is_set():
            cluster.sentinel.join(_POLL)
        if stop_requested.is_set():
            self._stop(cluster)

    def _stop(self, cluster) -> None:
        sentinel = cluster.sentinel
        if sentinel.is_alive():
            os.kill(sentinel.pid, signal.SIGTERM)  # its workers cancel what they run
        # In a thread: should the sentinel die meanwhile, stop() could wait on it forever.
        threading.Thread(target=cluster.stop, name="cluster-stop", daemon=True).start()
        grace = settings.BORGUI_STOP_GRACE_SECONDS
        deadline = time.monotonic() + grace
        while sentinel.is_alive() and time.monotonic() < deadline:
            sentinel.join(_POLL)
        if sentinel.is_alive():
            self.stderr.write(f"qcluster: not stopped after {grace} s, killing its processes")
            for pid in [*descendants(sentinel.pid), sentinel.pid]:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            sentinel.join(5)
