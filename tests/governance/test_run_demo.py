"""`make run` (manage.py run_demo) stops on Ctrl-C within a few seconds, cleanly, leaving nothing behind."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STOP_WITHIN_SECONDS = 8


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _processes_with(marker: str) -> list[int]:
    """Processes whose environment names ``marker`` (the demo's own var directory)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker.encode() in environ and state != "Z":
            found.append(int(entry.name))
    return found


@pytest.fixture
def demo(tmp_path):
    """The demo started as a terminal would: its own session, Ctrl-C (SIGINT) not ignored."""
    var = tmp_path / "var"
    env = {**os.environ, "PORTAL_VAR_DIR": str(var), "DJANGO_DEBUG": "true", "PYTHONUNBUFFERED": "1"}
    for name in ("ATLASSIAN_ADMIN_API_KEY", "DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE"):
        env.pop(name, None)
    log = tmp_path / "demo.log"
    command = [sys.executable, "manage.py", "run_demo", "--users", "30", "--groups", "4"]
    command += ["--port", str(_free_port()), "--simulator-port", str(_free_port())]
    with log.open("w") as out:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
    deadline = time.monotonic() + 120
    while "Ctrl-C stops everything" not in log.read_text():
        assert process.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.3)
    yield process, log, str(var)
    for pid in _processes_with(str(var)):
        os.kill(pid, signal.SIGKILL)


@pytest.mark.slow
def test_ctrl_c_stops_the_demo_within_seconds_with_status_0_and_nothing_left_running(demo):
    process, log, var = demo
    time.sleep(2)  # the cluster and the web server are up
    assert len(_processes_with(var)) >= 4  # the command, the simulator, the web server, the cluster
    started = time.monotonic()
    os.killpg(process.pid, signal.SIGINT)  # what the terminal sends to its foreground group
    assert process.wait(timeout=STOP_WITHIN_SECONDS + 5) == 0, log.read_text()[-3000:]
    assert time.monotonic() - started < STOP_WITHIN_SECONDS
    output = log.read_text()
    assert "stopped unexpectedly" not in output
    assert "Traceback" not in output
    time.sleep(0.5)
    assert _processes_with(var) == []
