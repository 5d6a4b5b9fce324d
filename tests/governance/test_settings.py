import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from governance import env

ROOT = Path(__file__).resolve().parents[2]

PRODUCTION_ENV = {
    "DJANGO_DEBUG": "false",
    "DJANGO_SECRET_KEY": "p" * 20 + "-production-secret-key-with-enough-entropy-1234567890",
    "AUDIT_HMAC_KEY": "production-audit-hmac-key-0123456789",
    "DJANGO_ALLOWED_HOSTS": "portal.example.com",
    "PORTAL_BASE_URL": "https://portal.example.com",
}


def _manage(*args: str, extra_env: dict, drop: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "AUDIT_", "PORTAL_"))}
    environment.update(extra_env)
    environment["DJANGO_SETTINGS_MODULE"] = "governance.settings"
    environment["PORTAL_VAR_DIR"] = str(ROOT / "var" / "prodcheck")
    for name in drop:
        environment.pop(name, None)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )


@pytest.mark.slow
def test_check_deploy_passes_with_production_values():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", extra_env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.slow
def test_check_deploy_passes_on_postgresql_and_redis(settings):
    """The scale-out profile's production settings: PostgreSQL (pooled) and Redis (cache and broker).
    In that profile the servers are real and the check also runs the database's own checks; on the
    SQLite profile the URLs only configure (check --deploy opens no connection without --database)."""
    on_postgresql = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
    scale_out = {
        **PRODUCTION_ENV,
        "DATABASE_URL": os.environ["DATABASE_URL"] if on_postgresql else "postgres://portal:x@db.invalid:5432/portal",
        "REDIS_URL": settings.REDIS_URL or "redis://redis.invalid:6379/0",
    }
    database = ("--database", "default") if on_postgresql else ()
    result = _manage("check", "--deploy", "--fail-level", "WARNING", *database, extra_env=scale_out)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout

    shown = _manage("shell", "-c", _SHOW_BACKENDS, extra_env=scale_out)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[-1].split() == [
        "django.db.backends.postgresql",
        "pool_max=68",  # 2 x ATLASSIAN_CONCURRENCY (32) + 4
        "django_redis.cache.RedisCache",
        "broker=redis",
    ]


_SHOW_BACKENDS = (
    "from django.conf import settings as s; from django_q.brokers import get_broker; "
    "print(s.DATABASES['default']['ENGINE'], f\"pool_max={s.DATABASES['default']['OPTIONS']['pool']['max_size']}\", "
    "s.CACHES['default']['BACKEND'], 'broker=' + type(get_broker()).__name__.lower())"
)


@pytest.mark.slow
@pytest.mark.parametrize("missing", ["DJANGO_SECRET_KEY", "AUDIT_HMAC_KEY"])
def test_production_refuses_to_start_without_its_secrets(missing):
    result = _manage("check", extra_env=PRODUCTION_ENV, drop=(missing,))
    assert result.returncode != 0
    assert f"{missing} must be set" in result.stderr


@pytest.mark.slow
def test_a_secret_may_come_from_a_file(tmp_path):
    secret = tmp_path / "key"
    secret.write_text("a-file-secret-key-" + "0123456789abcdef" * 3 + "\n")
    environment = {**PRODUCTION_ENV, "DJANGO_SECRET_KEY_FILE": str(secret)}
    result = _manage("check", "--deploy", "--fail-level", "WARNING", extra_env=environment, drop=("DJANGO_SECRET_KEY",))
    assert result.returncode == 0, result.stderr


class TestEnvHelpers:
    def test_booleans_are_strict(self, monkeypatch):
        monkeypatch.setenv("X_FLAG", "yes")
        assert env.env_bool("X_FLAG") is True
        monkeypatch.setenv("X_FLAG", "maybe")
        with pytest.raises(ImproperlyConfigured, match="X_FLAG must be true or false"):
            env.env_bool("X_FLAG")

    def test_numbers_fail_loudly(self, monkeypatch):
        monkeypatch.setenv("X_NUM", "ten")
        with pytest.raises(ImproperlyConfigured, match="X_NUM must be a whole number"):
            env.env_int("X_NUM", 1)
        monkeypatch.setenv("X_NUM", "-1")
        with pytest.raises(ImproperlyConfigured, match="at least 0"):
            env.env_int("X_NUM", 1, minimum=0)

    def test_lists_split_on_commas(self, monkeypatch):
        monkeypatch.setenv("X_LIST", " a.example , b.example,")
        assert env.env_list("X_LIST") == ["a.example", "b.example"]

    def test_a_missing_secret_file_is_an_error(self, monkeypatch, tmp_path):
        monkeypatch.setenv("X_SECRET_FILE", str(tmp_path / "nope"))
        with pytest.raises(ImproperlyConfigured, match="X_SECRET_FILE"):
            env.env_str("X_SECRET")


def test_each_profile_configures_its_database_for_concurrent_processes(settings):
    db = settings.DATABASES["default"]
    if db["ENGINE"] == "django.db.backends.sqlite3":
        # Embedded: readers never block the writer, writers queue for the lock (DJANGO-NOTES 1.3).
        assert db["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
        assert "journal_mode=WAL" in db["OPTIONS"]["init_command"]
    else:
        # Scale-out: a pool per process, which Django allows only without persistent connections.
        assert db["ENGINE"] == "django.db.backends.postgresql"
        # Room for a policy run's and a bulk action's worker threads at once (ATLASSIAN_CONCURRENCY
        # each), not psycopg's default of 4 connections.
        assert db["OPTIONS"]["pool"]["max_size"] >= 2 * settings.ATLASSIAN_CONCURRENCY + 2
        assert db["CONN_MAX_AGE"] == 0


@pytest.mark.django_db
def test_the_test_database_and_redis_keys_belong_to_this_run(settings):
    """Parallel runs (and the subprocesses a test starts) agree on one database and one Redis prefix
    per PORTAL_TEST_RUN, and never touch another run's or a portal's own."""
    from django.db import connection

    run = os.environ["PORTAL_TEST_RUN"].lower()
    assert run in connection.settings_dict["NAME"]
    assert connection.settings_dict["NAME"] == settings.DATABASES["default"]["TEST"]["NAME"]
    if settings.REDIS_URL:
        assert settings.CACHES["default"]["KEY_PREFIX"] == f"governance-test-{run}"
        assert settings.Q_CLUSTER["name"] == f"governance-test-{run}"


def test_the_task_queue_cannot_run_one_task_twice(settings):
    q = settings.Q_CLUSTER
    assert q["retry"] > q["timeout"]
    assert q["max_attempts"] >= 1
    assert q["catch_up"] is False
    assert settings.CACHES["default"]["BACKEND"] != "django.core.cache.backends.locmem.LocMemCache"


def test_web_worker_freezes_what_it_loaded_at_start():
    """``governance.wsgi`` takes the loaded application out of later cyclic collections, without
    which a full collection inside a request walks all of Django again (bench/README.md, admin lists)."""
    shown = _manage("shell", "-c", "import gc, governance.wsgi; print(gc.get_freeze_count())", extra_env=PRODUCTION_ENV)
    assert shown.returncode == 0, shown.stderr
    assert int(shown.stdout.split()[-1]) > 10_000


def _bare_environment(**extra: str) -> dict:
    """This process's environment without any of the portal's variables, as in a fresh clone."""
    names = ("DJANGO_", "AUDIT_", "PORTAL_", "DATABASE_URL", "REDIS_URL")
    return {**{k: v for k, v in os.environ.items() if not k.startswith(names)}, **extra}


def test_a_fresh_clone_runs_manage_py_with_no_variables_and_no_var_folder(tmp_path):
    """Development is the default: ``makemigrations --check`` (and `make run`'s first migrate) work
    before anything is configured or created; SQLite's folder is made on first use."""
    var = tmp_path / "fresh" / "var"
    checked = subprocess.run(
        [sys.executable, "manage.py", "makemigrations", "--check", "--dry-run"],
        cwd=ROOT,
        env=_bare_environment(PORTAL_VAR_DIR=str(var)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert checked.returncode == 0, checked.stderr
    assert "No changes detected" in checked.stdout
    assert (var / "portal.sqlite3").exists()


def test_the_web_server_refuses_to_start_unless_debug_is_chosen_explicitly():
    served = subprocess.run(
        [sys.executable, "-c", "import governance.wsgi"],
        cwd=ROOT,
        env=_bare_environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert served.returncode != 0
    assert "DJANGO_DEBUG is not set" in served.stderr
