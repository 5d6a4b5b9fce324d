"""A production host end to end: collectstatic, gunicorn (governance.gunicorn_conf) and a qcluster on
PostgreSQL + Redis with DEBUG off, behind a TLS-terminating proxy as the README describes."""

import json
import re
import time
from pathlib import Path

import pytest
import requests
from django.contrib.auth.models import User
from django_q.models import Task

from governance.runs.models import RunStatus, TaskRun

pytestmark = pytest.mark.slow

HTTPS = {"X-Forwarded-Proto": "https"}  # what the proxy adds to every request it forwards
WAIT_SECONDS = 90


def _get(portal, path: str, **kwargs) -> requests.Response:
    headers = {**HTTPS, **kwargs.pop("headers", {})}
    return requests.get(portal.base_url + path, headers=headers, timeout=30, allow_redirects=False, **kwargs)


def _wait_for(what: str, probe, portal):
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        result = probe()
        if result:
            return result
        time.sleep(0.5)
    logs = f"gunicorn:\n{portal.log('gunicorn')}\nqcluster:\n{portal.log('qcluster')}"
    pytest.fail(f"{what} within {WAIT_SECONDS}s.\n{logs}")


def _cookie(response: requests.Response, name: str) -> tuple[str, str]:
    """The value and the attributes of cookie ``name`` as the server set it."""
    for header in response.raw.headers.getlist("Set-Cookie"):
        if header.startswith(f"{name}="):
            value, _, attributes = header.partition(";")
            return value.split("=", 1)[1], attributes.lower()
    raise AssertionError(f"no {name} cookie in {response.headers}")


@pytest.fixture
def running(portal):
    """collectstatic, a qcluster and gunicorn, as the README's systemd units start them."""
    collected = portal.manage("collectstatic", "--noinput")
    assert collected.returncode == 0, collected.stdout + collected.stderr
    portal.start("qcluster", "manage.py", "qcluster")
    portal.start_gunicorn()
    return portal


def test_gunicorn_and_a_qcluster_serve_the_portal_on_postgresql_and_redis(running):
    portal = running

    # /healthz turns healthy once the cluster's heartbeat reaches Redis, where the web process reads it.
    health = _wait_for("/healthz never reported a healthy cluster", lambda: _healthy(portal), portal)
    assert health == {
        "status": "ok",
        "database": "ok",
        "cluster_heartbeat_age_seconds": health["cluster_heartbeat_age_seconds"],
        "last_sync_age_seconds": None,
        "checks": {"database": True, "cluster": True, "sync": True},
    }

    # Plain http straight to gunicorn is sent to https: the production settings are in force.
    plain = requests.get(portal.base_url + "/admin/login/", timeout=30, allow_redirects=False)
    assert plain.status_code == 301
    assert plain.headers["Location"].startswith("https://")
    # ... except the health probe, which load balancers send over plain HTTP to the backend.
    probe = requests.get(portal.base_url + "/healthz", timeout=30, allow_redirects=False)
    assert probe.status_code == 200
    assert probe.json()["status"] == "ok"

    # The admin login page links the hashed static names collectstatic wrote (manifest storage).
    login = _get(portal, "/admin/login/")
    assert login.status_code == 200
    assert 'name="username"' in login.text
    assert login.headers["Strict-Transport-Security"].startswith("max-age=")
    assert login.headers["X-Frame-Options"] == "DENY"
    manifest = json.loads((Path(portal.env["PORTAL_VAR_DIR"]) / "static" / "staticfiles.json").read_text())
    hashed = manifest["paths"]["admin/css/base.css"]
    assert hashed != "admin/css/base.css"
    assert f"/static/{hashed}" in login.text

    # whitenoise serves it from gunicorn, compressed and cacheable for good (the name changes with it).
    css = _get(portal, f"/static/{hashed}", headers={"Accept-Encoding": "gzip"})
    assert css.status_code == 200
    assert css.headers["Content-Type"].startswith("text/css")
    assert css.headers["Content-Encoding"] == "gzip"
    assert "max-age=315360000" in css.headers["Cache-Control"]
    assert "immutable" in css.headers["Cache-Control"]
    assert "#header" in css.text
    # The unhashed name still works for a minute of caching only.
    assert "max-age=60" in _get(portal, "/static/admin/css/base.css").headers["Cache-Control"]

    https_url = portal.base_url.replace("http://", "https://")  # the address the browser sees

    # A portal admin signs in (CSRF, secure cookies, a session in PostgreSQL) and sees the dashboard.
    created = portal.manage(
        "createsuperuser",
        "--noinput",
        "--username=prod-admin",
        "--email=prod-admin@example.com",
        extra_env={"DJANGO_SUPERUSER_PASSWORD": "a-long-production-password-1"},
    )
    assert created.returncode == 0, created.stderr
    assert User.objects.get(username="prod-admin").password.startswith("pbkdf2_sha256$")
    csrf_token, csrf_attributes = _cookie(login, "csrftoken")
    assert "secure" in csrf_attributes
    signed_in = requests.post(
        portal.base_url + "/admin/login/?next=/admin/",
        data={
            "username": "prod-admin",
            "password": "a-long-production-password-1",
            "csrfmiddlewaretoken": csrf_token,
            "next": "/admin/",
        },
        # Secure cookies are not sent over plain http by a client; the proxy would have: send them.
        headers={**HTTPS, "Cookie": f"csrftoken={csrf_token}", "Referer": https_url + "/admin/login/"},
        timeout=30,
        allow_redirects=False,
    )
    assert signed_in.status_code == 302, signed_in.text[:2000]
    assert signed_in.headers["Location"] == "/admin/"
    session, session_attributes = _cookie(signed_in, "sessionid")
    assert "secure" in session_attributes
    assert "httponly" in session_attributes
    dashboard = _get(portal, "/admin/", headers={"Cookie": f"sessionid={session}"})
    assert dashboard.status_code == 200
    assert "prod-admin" in dashboard.text


def test_a_task_enqueued_on_a_host_runs_on_the_cluster(running):
    portal = running
    _wait_for("/healthz never reported a healthy cluster", lambda: _healthy(portal), portal)
    # Enqueued by another production process (same SECRET_KEY and prefix), through the Redis broker.
    enqueued = portal.manage(
        "shell", "-c", "from django_q.tasks import async_task; print(async_task('governance.tasks.verify_audit_log'))"
    )
    assert enqueued.returncode == 0, enqueued.stderr
    task_id = enqueued.stdout.strip().splitlines()[-1]

    task = _wait_for(
        "the task never ran", lambda: Task.objects.filter(id=task_id).first(), portal
    )  # saved by the cluster into PostgreSQL once done
    assert task.success, task.result
    assert task.func == "governance.tasks.verify_audit_log"
    assert task.result is True
    run = TaskRun.objects.get(name="verify_audit_log")
    assert run.status == RunStatus.SUCCEEDED


def test_the_access_log_has_no_query_strings_and_no_restore_tokens(running):
    portal = running
    token = "Zx9" + "q" * 40
    _get(portal, "/admin/login/?next=/admin/accounts/account/%3Fq%3Dalice%40example.com")
    _get(portal, f"/access/restore/{token}/", headers={"Referer": f"https://127.0.0.1/access/restore/{token}/?a=b"})
    # Written by the worker after each response: wait for both lines.
    lines = _wait_for("the access log never showed both requests", lambda: _access_lines(portal, 2), portal)
    log = portal.log("gunicorn")
    assert any('"GET /admin/login/ HTTP/1.1" 200' in line for line in lines), lines
    assert any('"GET /access/restore/[token]/ HTTP/1.1"' in line for line in lines), lines
    assert token not in log
    assert "alice" not in log
    assert not any(re.search(r"\?\S", line) for line in lines), lines


def _healthy(portal) -> dict | None:
    try:
        response = _get(portal, "/healthz")
    except requests.ConnectionError:
        return None
    return response.json() if response.status_code == 200 else None


def _access_lines(portal, at_least: int) -> list[str] | None:
    lines = [line for line in portal.log("gunicorn").splitlines() if '"GET /' in line]
    return lines if len(lines) >= at_least else None
