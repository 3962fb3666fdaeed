"""Stopping the servers the harness started."""

import os
import signal
import subprocess


def terminate(process: subprocess.Popen, timeout: float) -> None:
    """SIGTERM to the server's main process, as `docker stop` does (it stops its own children);
    SIGKILL to its whole session after TIMEOUT seconds. The server must lead its session."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
