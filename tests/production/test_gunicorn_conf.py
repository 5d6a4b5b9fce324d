"""governance.gunicorn_conf on its own (every profile): settings from the environment, and access
lines that never carry a query string or a restore-link token."""

import importlib
import logging
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.core.exceptions import ImproperlyConfigured
from gunicorn.config import Config

import governance.gunicorn_conf

TOKEN = "Zx9" + "q" * 40


@pytest.fixture
def load_conf(monkeypatch):
    """Reload the config module under a given environment; the real one is restored afterwards."""

    def load(**env):
        for name in ("GUNICORN_WORKERS", "GUNICORN_THREADS", "GUNICORN_TIMEOUT", "GUNICORN_CONTROL_SOCKET"):
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return importlib.reload(governance.gunicorn_conf)

    yield load
    monkeypatch.undo()
    importlib.reload(governance.gunicorn_conf)


def _gunicorn_config(module) -> Config:
    """What gunicorn makes of the module (it refuses a value its own validators reject)."""
    config = Config()
    for name, value in vars(module).items():
        if name in config.settings:
            config.set(name, value)
    return config


def test_workers_threads_and_timeouts_come_from_the_environment(load_conf):
    config = _gunicorn_config(load_conf(GUNICORN_WORKERS="3", GUNICORN_THREADS="5", GUNICORN_TIMEOUT="200"))
    assert (config.workers, config.threads, config.timeout) == (3, 5, 200)
    assert config.worker_class_str == "gthread"
    assert config.preload_app is False
    assert config.logger_class is governance.gunicorn_conf.PortalLogger


def test_the_control_socket_is_off_unless_a_path_is_given(load_conf, tmp_path):
    assert _gunicorn_config(load_conf()).control_socket_disable is True
    config = _gunicorn_config(load_conf(GUNICORN_CONTROL_SOCKET=str(tmp_path / "portal.ctl")))
    assert config.control_socket_disable is False
    assert config.control_socket == str(tmp_path / "portal.ctl")


def test_a_bad_value_stops_gunicorn_at_start_up(load_conf):
    with pytest.raises(ImproperlyConfigured, match="GUNICORN_WORKERS must be at least 1"):
        load_conf(GUNICORN_WORKERS="0")


def _access_line(access_log_format: str) -> str:
    config = Config()
    config.set("accesslog", "-")
    config.set("access_log_format", access_log_format)
    logger = governance.gunicorn_conf.PortalLogger(config)
    lines = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())
    logger.access_log.addHandler(handler)
    path = f"/access/restore/{TOKEN}/"
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": f"{path}?email=alice%40example.com",
        "PATH_INFO": path,
        "QUERY_STRING": "email=alice%40example.com",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "10.0.0.7",
        "HTTP_REFERER": f"https://portal.example.com{path}?email=alice%40example.com",
        "HTTP_USER_AGENT": "curl/8",
    }
    request = SimpleNamespace(headers=[("REFERER", environ["HTTP_REFERER"])])
    response = SimpleNamespace(status="410 Gone", headers=[("Content-Type", "text/html")], sent=1833)
    logger.access(response, request, environ, timedelta(milliseconds=12))
    assert len(lines) == 1
    return lines[0]


def test_the_access_line_has_the_path_without_token_or_query():
    line = _access_line(governance.gunicorn_conf.access_log_format)
    assert '"GET /access/restore/[token]/ HTTP/1.1" 410 1833 12ms' in line
    assert line.startswith("10.0.0.7 [")


def test_no_format_an_operator_picks_brings_the_token_or_the_query_back():
    line = _access_line("%(r)s|%(U)s|%(q)s|%(f)s|%({referer}i)s|%({raw_uri}e)s|%({query_string}e)s")
    assert line == (
        "GET /access/restore/[token]/ HTTP/1.1|/access/restore/[token]/|-"
        "|https://portal.example.com/access/restore/[token]/|https://portal.example.com/access/restore/[token]/"
        "|/access/restore/[token]/|-"
    )
