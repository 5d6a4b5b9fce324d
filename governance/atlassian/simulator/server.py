"""The HTTP server (stdlib ``ThreadingHTTPServer``, HTTP/1.1 keep-alive) and the :class:`Simulator` facade.

One base URL serves every family: ``/admin/v1|v2/...`` (Bearer org API key), ``/users/{id}/manage...``
(same key), ``/rest/api/3/...`` and ``/ex/jira/{cloudId}/rest/api/3/...`` (Basic jira email + key).
Every Admin response carries ``X-RateLimit-Limit``, ``X-RateLimit-Remaining`` and ``X-RateLimit-Reset``
(ISO-8601 UTC); 429 responses add ``Retry-After`` (seconds).

``Simulator.writes`` logs every write that was carried out (2xx), in order, so tests can tell
how many times an account was acted on, including writes whose client gave up before the answer.
``Simulator.requests_log`` keeps every request answered (the newest 50,000): method, path, status.
"""

import base64
import binascii
import contextlib
import dataclasses
import hmac
import json
import logging
import re
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote, unquote, urlsplit

from . import handlers_admin, handlers_admin_v1, handlers_jira, handlers_usermgmt
from .config import SimulatorConfig
from .errors import (
    ADMIN,
    JIRA,
    ORG_NOT_FOUND,
    RATE_LIMITED,
    USER_MGMT,
    ApiError,
    Response,
    admin_error,
    family_error,
    jira_error,
    proxy_error,
)
from .faults import Decision, Faults, RateLimiter, Window
from .paging import CursorCodec
from .request import Request
from .state import SimulatorState

log = logging.getLogger("governance.atlassian.simulator")

NOMINAL_LIMIT = 10_000  # advertised per-minute budget when no limit is configured (not enforced)
DROP = object()
ROUTES = handlers_admin_v1.ROUTES + handlers_admin.ROUTES + handlers_usermgmt.ROUTES + handlers_jira.ROUTES


@dataclass(frozen=True)
class Write:
    """One write the simulator carried out: method, decoded path, status, wall-clock time."""

    method: str
    path: str
    status: int
    at: float


@dataclass(frozen=True)
class Served:
    """One request the simulator answered (or dropped: status 0): method, decoded path, status."""

    method: str
    path: str
    status: int


REQUEST_LOG_SIZE = 50_000


def _is_write(method: str, path: str) -> bool:
    # The v2 searches are POSTs that only read.
    return method != "GET" and not path.rstrip("/").endswith("/search")


def _compile(pattern: str) -> re.Pattern:
    parts = re.split(r"\{(\w+)\}", pattern)
    regex = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>[^/]+)" for i, p in enumerate(parts))
    return re.compile(f"^{regex}$")


COMPILED = [(method, _compile(pattern), fn, bucket) for method, pattern, fn, bucket in ROUTES]


def _family(path: str) -> str | None:
    if path.startswith("/admin/"):
        return ADMIN
    if path.startswith("/users/"):
        return USER_MGMT
    if path.startswith(("/rest/api/", "/ex/jira/")):
        return JIRA
    return None


def _paged(response: Response) -> bool:
    """An Admin listing answer: a JSON object with ``links.self`` (and ``links.next`` unless last)."""
    body = response.body
    return (
        response.status == 200
        and isinstance(body, dict)
        and isinstance(body.get("links"), dict)
        and isinstance(body["links"].get("self"), str)
    )


def _is_url(link: str) -> bool:
    return link.startswith(("http://", "https://"))


def _family_request(req: Request) -> Request:
    req.family = _family(req.path)
    return req


def _iso(epoch: float, jira: bool = False) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%MZ" if jira else "%Y-%m-%dT%H:%M:%SZ")


def _rate_headers(window: Window) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(window.limit),
        "X-RateLimit-Remaining": str(window.remaining),
        "X-RateLimit-Reset": _iso(window.reset),
    }


class Simulator:
    """A running (or startable) simulated Atlassian Cloud organization.

    >>> with Simulator(SimulatorConfig(users=50, groups=8)) as sim:
    ...     requests.post(f"{sim.base_url}/admin/v2/orgs/demo-org/directories/-/users/search", ...)
    """

    def __init__(self, config: SimulatorConfig | None = None, **overrides):
        config = config or SimulatorConfig()
        self.config = dataclasses.replace(config, **overrides) if overrides else config
        self.state = SimulatorState(self.config)
        self.faults = Faults(self.config)
        self.limiter = RateLimiter()
        self.codec = CursorCodec(f"{self.config.seed}:{self.config.org_id}:cursor")
        self._served = 0
        self._served_lock = threading.Lock()
        # Requests being answered at this moment, and the most there ever were at once (how much
        # a client's calls overlapped), and how many got a 429.
        self._in_flight = 0
        self.max_in_flight = 0
        self.rate_limited = 0
        self._writes: list[Write] = []
        self._log: deque[Served] = deque(maxlen=REQUEST_LOG_SIZE)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._caches: dict[str, tuple[int, object]] = {}

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> str:
        """Serve in a background thread; returns the base URL (port 0 picks a free port)."""
        if self._server is None:
            self._server = _Server((self.config.host, self.config.port), self)
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.1},
                name="atlassian-simulator",
                daemon=True,
            )
            self._thread.start()
        return self.base_url

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "Simulator":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the simulator is not running")
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        host = self.config.host
        host = "127.0.0.1" if host in ("", "0.0.0.0") else host  # noqa: S104 - display only
        return f"http://{host}:{self.port}"

    @property
    def requests_served(self) -> int:
        return self._served

    def reset_in_flight(self) -> None:
        """Start counting overlapping requests (``max_in_flight``) and 429s afresh."""
        with self._served_lock:
            self.max_in_flight = self._in_flight
            self.rate_limited = 0

    @property
    def writes(self) -> list[Write]:
        """Every write carried out so far (2xx), oldest first."""
        with self._served_lock:
            return list(self._writes)

    @property
    def requests_log(self) -> list[Served]:
        """Every request answered so far (the newest ``REQUEST_LOG_SIZE``), oldest first."""
        with self._served_lock:
            return list(self._log)

    def writes_for(self, account_id: str) -> list[Write]:
        """The writes whose path names ``account_id`` (suspend, remove, lifecycle, memberships ...)."""
        return [w for w in self.writes if f"/{account_id}/" in f"{w.path}/"]

    # -- caches over the state (invalidated by state.version) ------------------------------------
    def cached(self, name: str, build):
        """``build()``, memoised until the next write to the state."""
        version = self.state.version
        hit = self._caches.get(name)
        if hit is None or hit[0] != version:
            hit = (version, build())
            self._caches[name] = hit
        return hit[1]

    def jira_visible(self) -> list[int]:
        accounts = self.state.data.accounts
        return self.cached("jira", lambda: [i for i in self.state.data.jira_order if not accounts[i].gone])

    def total_managed(self) -> int:
        accounts = self.state.data.accounts
        return self.cached(
            "managed", lambda: sum(1 for a in accounts if a.kind == "atlassian" and a.managed and not a.gone)
        )

    # -- request handling ------------------------------------------------------------------------
    def handle(self, method: str, target: str, headers, body: bytes, host: str | None):
        """Answer one request: ``DROP`` or (status, headers, payload bytes)."""
        with self._served_lock:
            self._served += 1
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            answer = self._handle(method, target, headers, body, host)
        finally:
            with self._served_lock:
                self._in_flight -= 1
        if answer is not DROP and answer[0] == 429:
            with self._served_lock:
                self.rate_limited += 1
        return answer

    def _handle(self, method: str, target: str, headers, body: bytes, host: str | None):
        req = Request(method, target, headers, body, host)
        req.family = _family(req.path)
        delay, decision = self.faults.decide(req.path)
        if delay:
            time.sleep(delay)
        if decision is not None and decision.kind == "drop":
            with self._served_lock:
                self._log.append(Served(method, unquote(req.path), 0))
            return DROP
        dispatched = False
        try:
            if decision is not None and decision.kind in ("fail", "rate_limit"):
                response = self._fault(req, decision)
            else:
                dispatched = True
                response = self._dispatch(req)
        except ApiError as exc:
            response = exc.response
        except Exception:
            log.exception("simulator handler failed: %s %s", method, req.path)
            response = family_error(req.family, 500, "Internal error").response
        with self._served_lock:
            self._log.append(Served(req.method, unquote(req.path), response.status))
            if dispatched and 200 <= response.status < 300 and _is_write(req.method, req.path):
                self._writes.append(Write(req.method, unquote(req.path), response.status, time.time()))
        if dispatched and decision is None and _paged(response):
            decision = self.faults.decide_cursor()
        if decision is not None and decision.kind in ("cursor_repeat", "cursor_skip") and _paged(response):
            self._cursor_fault(req, response, decision.kind)
        if req.family == ADMIN and "X-RateLimit-Limit" not in response.headers:
            limit = self.config.rate_limit_per_minute or NOMINAL_LIMIT
            response.headers.update(_rate_headers(self.limiter.peek("all", limit)))
        payload = b""
        if response.body is not None:
            payload = json.dumps(response.body, separators=(",", ":"), ensure_ascii=False).encode()
            response.headers.setdefault("Content-Type", "application/json;charset=UTF-8")
        status = response.status
        if decision is not None and decision.kind == "malformed":
            status = 200
            payload = payload[: max(1, len(payload) // 2)] if len(payload) > 2 else b'{"data":[{"id":"'
            response.headers["Content-Type"] = "application/json;charset=UTF-8"
        return status, response.headers, payload

    def _cursor_fault(self, req: Request, response: Response, kind: str) -> None:
        """Rewrite a paged answer's ``links.next``: back to this page, or over the next one."""
        links = response.body["links"]
        if kind == "cursor_repeat":
            this_page = links["self"]
            links["next"] = this_page if _is_url(this_page) else self.codec.reissue(this_page)
            return
        if not links.get("next"):
            return  # the last page: there is nothing to skip
        try:
            following = self._dispatch(self._request_for(req, links["next"]), internal=True)
        except ApiError:
            return  # the next page cannot be read: leave the answer as it is
        if _paged(following) and following.body["links"].get("next"):
            links["next"] = following.body["links"]["next"]
        else:
            del links["next"]  # the skipped page was the last: the listing ends early

    @staticmethod
    def _request_for(req: Request, link: str) -> Request:
        """The request a client would send to follow ``link`` (a v1 URL, or a v2 token)."""
        host = req.base.removeprefix("http://")
        if _is_url(link):
            parts = urlsplit(link)
            return _family_request(Request("GET", f"{parts.path}?{parts.query}", req.headers, b"", host))
        if req.method == "POST":
            body = json.dumps({"cursor": link}).encode()
            return _family_request(Request("POST", req.path, req.headers, body, host))
        return _family_request(Request(req.method, f"{req.path}?cursor={quote(link)}", req.headers, b"", host))

    def _dispatch(self, req: Request, *, internal: bool = False) -> Response:
        path = req.path.rstrip("/") or "/"
        if path.startswith("/ex/jira/"):
            cloud, _, tail = path[len("/ex/jira/") :].partition("/")
            if unquote(cloud) != self.state.cloud_id:
                raise proxy_error(404, "Not Found")
            req.site = f"{req.base}/ex/jira/{cloud}"
            path = "/" + tail
        found = None
        for method, regex, fn, bucket in COMPILED:
            match = regex.match(path)
            if match is not None and method == req.method:
                found = fn, bucket, {k: unquote(v) for k, v in match.groupdict().items()}
                break
        if found is None:
            raise family_error(req.family, 404, f"No route for {req.method} {req.path}")
        fn, bucket, req.params = found
        self._authenticate(req)
        if req.family == ADMIN and "orgId" in req.params and req.params["orgId"] != self.config.org_id:
            raise admin_error(404, ORG_NOT_FOUND, "Organization not found")
        # A page the server reads for itself (cursor_skip) is not a client request: no rate budget.
        window = self.limiter.peek("all", NOMINAL_LIMIT) if internal else self._rate_check(req, bucket)
        with self.state.lock:
            self.state.expire_deletions()
            try:
                response = fn(self, req)
            except ApiError as exc:
                response = exc.response
        if req.family == ADMIN:
            response.headers.update(_rate_headers(window))
        return response

    def _authenticate(self, req: Request) -> None:
        header = req.headers.get("Authorization") or ""
        scheme, _, credentials = header.partition(" ")
        if req.family == JIRA:
            try:
                decoded = base64.b64decode(credentials.strip(), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                decoded = ""
            expected = f"{self.config.jira_email}:{self.config.api_key}"
            if scheme.lower() != "basic" or not hmac.compare_digest(decoded.encode(), expected.encode()):
                error = jira_error(401, "You are not authenticated. Authentication required to perform this operation.")
                error.response.headers["WWW-Authenticate"] = 'Basic realm="protected-area"'
                raise error
            return
        valid = scheme.lower() == "bearer" and hmac.compare_digest(
            credentials.strip().encode(), self.config.api_key.encode()
        )
        # An expired key is refused like a wrong one: what Atlassian's gateway says then is not
        # documented (UNCONFIRMED), so the body gives no more away than for a wrong key.
        if not valid or self.faults.api_key_expired:
            if req.family == USER_MGMT:
                raise family_error(USER_MGMT, 401, "Unauthorized")
            raise proxy_error(401, "Unauthorized")

    def _rate_check(self, req: Request, bucket: str | None) -> Window:
        configured = self.config.rate_limit_per_minute
        window = self.limiter.hit("all", configured or NOMINAL_LIMIT)
        if configured and not window.allowed:
            raise self._too_many(req, window)
        if bucket == handlers_admin_v1.LAST_ACTIVE:
            window = self.limiter.hit(f"last-active:{self.config.org_id}", self.config.last_active_limit_per_minute)
            if not window.allowed:
                raise self._too_many(req, window)
        return window

    def _too_many(self, req: Request, window: Window, retry_after: int | None = None) -> ApiError:
        if req.family == JIRA:
            error = jira_error(429, "Rate limit exceeded.")
            error.response.headers["RateLimit-Reason"] = "jira-burst-based"
        elif req.path.startswith("/admin/v2/"):
            error = admin_error(429, RATE_LIMITED, "Too many requests: slow down and retry after the reset time")
        else:
            error = proxy_error(429, "Too Many Requests")
        headers = _rate_headers(Window(False, window.limit, 0, window.reset))
        if req.family == JIRA:
            headers["X-RateLimit-Reset"] = _iso(window.reset, jira=True)
        headers["Retry-After"] = str(retry_after if retry_after is not None else window.retry_after)
        error.response.headers.update(headers)
        return error

    def _fault(self, req: Request, decision: Decision) -> Response:
        if decision.kind == "rate_limit":
            wait = decision.retry_after or 1
            limit = self.config.rate_limit_per_minute or NOMINAL_LIMIT
            return self._too_many(req, Window(False, limit, 0, time.time() + wait), retry_after=wait).response
        response = family_error(req.family, decision.status, "Injected fault: the service is unavailable").response
        if decision.retry_after is not None:
            response.headers["Retry-After"] = str(decision.retry_after)
        return response


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "AtlassianSimulator/1.0"
    sys_version = ""
    timeout = 120  # idle keep-alive connections are closed after this many seconds
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    server: "_Server"  # for the type checker: the base class says BaseServer, which has no .app

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        result = self.server.app.handle(self.command, self.path, self.headers, body, self.headers.get("Host"))
        if result is DROP:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        status, headers, payload = result
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if status not in (204, 304):
            self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if payload and status not in (204, 304):
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args) -> None:
        log.debug("%s - %s", self.address_string(), format % args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's listen backlog is 5: with ATLASSIAN_CONCURRENCY workers (32) opening their
    # connections at once, next to a sync's, the kernel refused some ("Connection failed") where
    # Atlassian's front door would not. Room for every client a test or a demo runs.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: Simulator):
        self.app = app
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request, client_address) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
