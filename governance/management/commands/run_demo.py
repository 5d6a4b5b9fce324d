"""`make run`: prepare the database, start the simulator (unless real credentials are set), sync,
then run the task cluster and the web server until Ctrl-C, and stop them all cleanly.

The long-lived children run in process groups of their own, so the terminal's Ctrl-C reaches this
command alone, which then stops them all at once: a child killed by the terminal's signal first
would look like one that died on its own, and the task cluster, signalled twice (by the terminal
and again by us) or while still starting, can hang on stop (django-q2/django-q2#346). What is still
running after ``STOP_GRACE_SECONDS`` is killed with its whole group (the cluster's workers too).
"""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time

from django.core.management import get_commands
from django.core.management.base import BaseCommand, CommandError

SIMULATOR_PORT = 8765
STOP_GRACE_SECONDS = 5
DEMO_ENV = {
    "ATLASSIAN_ORG_ID": "demo-org",
    "ATLASSIAN_ADMIN_API_KEY": "demo-key",
    "ATLASSIAN_API_BASE": f"http://127.0.0.1:{SIMULATOR_PORT}",
    "ATLASSIAN_SITE_URL": f"http://127.0.0.1:{SIMULATOR_PORT}",
    "ATLASSIAN_EMAIL": "admin@example.com",
    "ATLASSIAN_API_TOKEN": "demo-key",
}


class Command(BaseCommand):
    help = "Run the portal locally against the bundled Atlassian simulator (what `make run` does)."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--users", type=int, default=2000)
        parser.add_argument("--groups", type=int, default=40)
        parser.add_argument("--simulator-port", type=int, default=SIMULATOR_PORT)

    def handle(self, *args, port: int, users: int, groups: int, simulator_port: int, **options):
        self.children: list[subprocess.Popen] = []
        use_simulator = not os.environ.get("ATLASSIAN_ADMIN_API_KEY")
        env = {**os.environ, **(_demo_env(simulator_port) if use_simulator else {})}
        # `kill` (or systemd) stops the demo as Ctrl-C does: cleanly, exit status 0.
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        try:
            self._step(env, "migrate", "--noinput")
            self._step(env, "createcachetable")
            self._step(env, "create_demo_admin")
            available = get_commands()
            if use_simulator:
                self.stdout.write(f"Starting the Atlassian simulator ({users} users, {groups} groups)...")
                self._spawn(
                    env,
                    "atlassian_simulator",
                    "--port",
                    str(simulator_port),
                    "--users",
                    str(users),
                    "--groups",
                    str(groups),
                    "--seed",
                    "1",
                )
                _wait_for_port(simulator_port, timeout=60)
            else:
                self.stdout.write("ATLASSIAN_ADMIN_API_KEY is set: talking to Atlassian, no simulator.")
            if "setup_schedules" in available:
                self._step(env, "setup_schedules")
            if "sync_atlassian" in available:
                self._step(env, "sync_atlassian")
            self._spawn(env, "qcluster")
            self._spawn(env, "runserver", f"127.0.0.1:{port}", "--noreload")
            self.stdout.write(
                self.style.SUCCESS(f"\n  Portal: http://127.0.0.1:{port}/admin/   (Ctrl-C stops everything)\n")
            )
            while all(child.poll() is None for child in self.children):
                time.sleep(0.5)
            raise CommandError("A process of the portal stopped unexpectedly; stopping the others.")
        except KeyboardInterrupt:
            self.stdout.write("\nStopping...")
        finally:
            self._stop()

    def _step(self, env, *args):
        result = subprocess.run([sys.executable, "manage.py", *args], env=env, check=False)
        if result.returncode != 0:
            raise CommandError(f"`manage.py {' '.join(args)}` failed (exit {result.returncode}).")

    def _spawn(self, env, *args):
        command = [sys.executable, "manage.py", *args]
        self.children.append(subprocess.Popen(command, env=env, process_group=0))

    def _stop(self):
        """Ask every child to stop at once, then kill the process group of any still running after
        the grace period. SIGTERM, not SIGINT: the cluster and the simulator stop on either, and the
        web server, which holds nothing to save, ends without a KeyboardInterrupt traceback."""
        for child in self.children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for child in self.children:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            # The group, not the child: the cluster's sentinel and workers outlive a killed parent.
            _signal_group(child, signal.SIGKILL)
            child.wait()
        self.children.clear()


def _signal_group(child: subprocess.Popen, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # the whole group is gone already
        os.killpg(child.pid, signum)


def _demo_env(simulator_port: int) -> dict[str, str]:
    base = f"http://127.0.0.1:{simulator_port}"
    return {**DEMO_ENV, "ATLASSIAN_API_BASE": base, "ATLASSIAN_SITE_URL": base}


def _wait_for_port(port: int, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise CommandError(f"Nothing answered on port {port} within {timeout:.0f} s.")
