"""Child processes the production and resilience tests start (gunicorn, qcluster)."""

import contextlib
import os
import signal
import subprocess


def stop_processes(processes: list[subprocess.Popen]) -> None:
    """SIGTERM to each main process only, as systemd's KillMode=mixed does (a qcluster whose workers
    get the signal too never finishes stopping), newest first; then nothing may outlive the test:
    the test database is dropped at the end of the run."""
    for process in reversed(processes):
        if process.poll() is None:
            process.terminate()
    for process in reversed(processes):
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
