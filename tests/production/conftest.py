"""The production run, for real: gunicorn with governance.gunicorn_conf and a qcluster, both with
production settings (DEBUG off), on PostgreSQL and Redis.

The children reach this run's test database (pytest-django's test_portal_<run>, which has every
migration applied) through DATABASE_URL, and get a Redis prefix of their own so neither their queue
nor their cache keys can meet another run's. Only the PostgreSQL + Redis profile has what this
needs; on SQLite the tests skip and say so.
"""

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.processes import stop_processes

ROOT = Path(__file__).resolve().parents[2]
SECRET_KEY = "production-test-secret-key-" + "0123456789abcdef" * 3
STARTUP_SECONDS = 90


def _postgres_and_redis_or_skip(settings) -> None:
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        pytest.skip("production run needs PostgreSQL: set DATABASE_URL=postgres://... (make test-pg)")
    if not settings.REDIS_URL:
        pytest.skip("production run needs Redis: set REDIS_URL=redis://... (make test-pg)")


def _database_url(settings_dict: dict) -> str:
    user = quote(settings_dict["USER"] or "", safe="")
    password = quote(settings_dict["PASSWORD"] or "", safe="")
    host = settings_dict["HOST"] or "localhost"
    port = settings_dict["PORT"] or 5432
    return f"postgres://{user}:{password}@{host}:{port}/{settings_dict['NAME']}"


class Portal:
    """Production processes of one test: their environment, their logs, and how to stop them."""

    def __init__(self, env: dict, logs: Path):
        self.env = env
        self.logs = logs
        self.processes: list[tuple[str, subprocess.Popen]] = []
        self.base_url = ""

    def manage(self, *args: str, extra_env: dict | None = None, timeout: int = 180) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env={**self.env, **(extra_env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self, name: str, *args: str, extra_env: dict | None = None) -> subprocess.Popen:
        # Logs go to files, not pipes: a pipe nobody reads would block the child once full.
        with open(self.logs / f"{name}.log", "w") as out:
            process = subprocess.Popen(
                [sys.executable, *args],
                cwd=ROOT,
                env={**self.env, **(extra_env or {})},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes.append((name, process))
        return process

    def start_gunicorn(self) -> str:
        process = self.start(
            "gunicorn",
            "-m",
            "gunicorn",
            "-c",
            "python:governance.gunicorn_conf",
            "governance.wsgi",
            # Port 0: the system picks a free one, read back from gunicorn's start-up line.
            extra_env={"GUNICORN_BIND": "127.0.0.1:0", "GUNICORN_WORKERS": "2", "GUNICORN_THREADS": "2"},
        )
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            found = re.search(r"Listening at: (http://127\.0\.0\.1:\d+)", self.log("gunicorn"))
            if found:
                self.base_url = found.group(1)
                return self.base_url
            if process.poll() is not None:
                break
            time.sleep(0.2)
        pytest.fail(f"gunicorn did not start:\n{self.log('gunicorn')}")

    def stop(self) -> None:
        stop_processes([process for _name, process in self.processes])


@pytest.fixture
def production_env(settings, transactional_db, tmp_path) -> dict:
    """The environment of a production host, pointed at this run's test database and a Redis prefix
    of its own. Transactional: the children must see what the test writes, and it them."""
    _postgres_and_redis_or_skip(settings)
    from django.db import connection

    run = re.sub(r"[^a-z0-9_]", "_", os.environ["PORTAL_TEST_RUN"].lower())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "AUDIT_", "PORTAL_", "GUNICORN_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="governance.settings",
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY=SECRET_KEY,
        AUDIT_HMAC_KEY="production-test-audit-hmac-key-0123456789",
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        PORTAL_BASE_URL="https://127.0.0.1",
        # As behind the TLS-terminating proxy of the README: the proxy says the request was https.
        DJANGO_BEHIND_TLS_PROXY="true",
        DATABASE_URL=_database_url(connection.settings_dict),
        REDIS_URL=settings.REDIS_URL,
        REDIS_KEY_PREFIX=f"governance-prodtest-{run}",
        PORTAL_VAR_DIR=str(tmp_path / "var"),
        Q_WORKERS="1",
        LOG_LEVEL="INFO",
    )
    yield env
    _forget_redis_keys(settings.REDIS_URL, env["REDIS_KEY_PREFIX"])


def _forget_redis_keys(redis_url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        for pattern in (f"{prefix}:*", f"django_q:{prefix}:*"):
            keys = list(client.scan_iter(match=pattern, count=500))
            if keys:
                client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
def portal(production_env, tmp_path):
    portal = Portal(production_env, tmp_path)
    yield portal
    portal.stop()
