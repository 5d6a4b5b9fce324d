"""gunicorn settings for production: ``gunicorn -c python:governance.gunicorn_conf governance.wsgi``.

Every knob comes from the environment (same typed helpers as governance.settings), so one systemd
unit or Procfile line serves every host. The access log leaves out query strings (admin searches
and filters carry email addresses) and masks restore-link tokens, which live in the path
(governance.logging): whoever holds such a link can ask for the account's access back.
"""

import logging
import multiprocessing
import os

from gunicorn.glogging import Logger

from governance.env import env_bool, env_int, env_str

bind = (env_str("GUNICORN_BIND", "127.0.0.1:8000") or "127.0.0.1:8000").split(",")
# gthread workers: the main thread keeps answering the arbiter's heartbeat while a request thread
# streams a long CSV download, so `timeout` bounds a stuck worker rather than a big export.
workers = env_int("GUNICORN_WORKERS", min(2 * multiprocessing.cpu_count() + 1, 8), minimum=1)
threads = env_int("GUNICORN_THREADS", 4, minimum=1)
worker_class = "gthread"
timeout = env_int("GUNICORN_TIMEOUT", 120, minimum=1)
graceful_timeout = env_int("GUNICORN_GRACEFUL_TIMEOUT", 30, minimum=1)
keepalive = env_int("GUNICORN_KEEPALIVE", 5, minimum=0)
# Recycle workers now and then (with jitter, so they do not all restart at once) to bound memory.
max_requests = env_int("GUNICORN_MAX_REQUESTS", 2000, minimum=0)
max_requests_jitter = max_requests // 10
# Not preloaded: each worker opens its own database pool after the fork, and a HUP reloads the code.
preload_app = False
proc_name = "governance-portal"
# The heartbeat file lives in memory where there is some (a disk-backed /tmp can stall it).
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108
# gunicorn's control socket (gunicornc) defaults to one path per user, which a second instance on
# the host (or a test run beside a running portal) would take over: only where asked for.
control_socket_disable = not env_str("GUNICORN_CONTROL_SOCKET")
if not control_socket_disable:
    control_socket = env_str("GUNICORN_CONTROL_SOCKET")
# Logs go to stdout/stderr: journald (or the container runtime) keeps them.
accesslog = "-" if env_bool("GUNICORN_ACCESS_LOG", True) else None
errorlog = "-"
loglevel = (env_str("LOG_LEVEL", "INFO") or "INFO").lower()
# Client (or proxy) address, time, method + path (no query string), status, bytes, duration in ms.
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms'


class _MaskTokensFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "/access/restore/" in message:
            from governance.logging import mask_access_tokens

            record.msg, record.args = mask_access_tokens(message), None
        return True


class PortalLogger(Logger):
    """gunicorn's logger with the request line cut to method, path and protocol, every restore-link
    token masked, and no query string anywhere, whatever ``access_log_format`` an operator sets."""

    _NO_QUERY = ("q", "{query_string}e")

    def setup(self, cfg):
        super().setup(cfg)
        # gunicorn's own errors name the request ("Error handling request /access/restore/...").
        if not any(isinstance(f, _MaskTokensFilter) for f in self.error_log.filters):
            self.error_log.addFilter(_MaskTokensFilter())

    def atoms(self, resp, req, environ, request_time):
        # Imported here: only workers write access lines, and they have loaded Django by then.
        from governance.logging import mask_access_tokens

        atoms = super().atoms(resp, req, environ, request_time)
        path = environ.get("PATH_INFO") or ""
        atoms["r"] = f"{environ.get('REQUEST_METHOD')} {path} {environ.get('SERVER_PROTOCOL')}"
        for key in self._NO_QUERY:
            atoms[key] = "-"
        for key in ("{raw_uri}e", "{request_uri}e"):
            if key in atoms:
                atoms[key] = path
        for key in ("f", "{referer}i", "{http_referer}e"):
            if isinstance(atoms.get(key), str):
                atoms[key] = atoms[key].split("?", 1)[0]
        return {key: mask_access_tokens(value) if isinstance(value, str) else value for key, value in atoms.items()}


logger_class = PortalLogger
