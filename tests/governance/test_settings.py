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


def test_the_embedded_profile_uses_sqlite_with_wal_and_immediate_transactions(settings):
    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.sqlite3":
        pytest.skip("PostgreSQL profile")
    assert db["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert "journal_mode=WAL" in db["OPTIONS"]["init_command"]


def test_the_task_queue_cannot_run_one_task_twice(settings):
    q = settings.Q_CLUSTER
    assert q["retry"] > q["timeout"]
    assert q["max_attempts"] >= 1
    assert q["catch_up"] is False
    assert settings.CACHES["default"]["BACKEND"] != "django.core.cache.backends.locmem.LocMemCache"
