"""The session, retry and pacing layer under :class:`AtlassianClient`.

One :class:`Transport` owns one ``requests.Session``. Each logical call (a :class:`Call`) is sent,
and retried when Atlassian says "later": 429 and 503 always, 500/502/504 and dropped
connections or timeouts only when the call is a read. The waits honour ``Retry-After``, then
``X-RateLimit-Reset``, then fall back to exponential backoff with full jitter, and are bounded by
a number of attempts and a total sleeping budget. Before hitting the limit at all, responses whose
``X-RateLimit-Remaining`` is low make the next request to the same host wait a little.

Credentials live only inside the auth objects (wrapped in :class:`Secret`), never in messages: an
error names the method and the URL path, and every message is scrubbed of the known secrets as a
last line of defence.
"""

import base64
import logging
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests
from requests.auth import AuthBase
from urllib3.exceptions import NewConnectionError

from governance import foreground
from governance.atlassian.errors import RETRYABLE_STATUSES, AtlassianError
from governance.atlassian.records import CallStats
from governance.atlassian.timeparse import parse_http_date, parse_timestamp

from .bodies import error_details, shorten

if TYPE_CHECKING:
    from .pace import Pacer

log = logging.getLogger("governance.atlassian")

# No (complete) response came back. ChunkedEncodingError is a connection cut mid-body.
NETWORK_ERRORS = (requests.Timeout, requests.ConnectionError, requests.exceptions.ChunkedEncodingError)


def never_sent(exc: Exception) -> bool:
    """Whether the request certainly never left: no connection could be made (refused, or the
    connect itself timed out). A write is then as safe to retry as a read; a connection lost or a
    response timed out after sending is not (the write may have landed)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(exc, requests.ConnectionError) and exc.args:
        return isinstance(getattr(exc.args[0], "reason", None), NewConnectionError)
    return False


# Statuses on which a non-idempotent write may be retried: Atlassian refused before acting.
WRITE_RETRY_STATUSES = frozenset({429, 503})
# Headers that say how much of the rate limit is left (API.md 2.2, 4.8).
RATE_LIMIT_HEADERS = (
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "X-RateLimit-NearLimit",
    "Retry-After",
    "RateLimit-Reason",
)


class Secret:
    """A credential that does not print itself (repr, str, tracebacks with locals)."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


class BearerAuth(AuthBase):
    """``Authorization: Bearer <org API key>`` for the Admin and User management APIs."""

    def __init__(self, key: Secret):
        self._key = key

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._key.reveal()}"
        return request

    def __repr__(self) -> str:
        return "BearerAuth(***)"


class BasicAuth(AuthBase):
    """HTTP Basic with the Atlassian account email and API token, for Jira."""

    def __init__(self, email: str, token: Secret):
        self._email = email
        self._token = token

    def encoded(self) -> str:
        """The base64 ``email:token`` pair: as much a secret as the token itself."""
        return base64.b64encode(f"{self._email}:{self._token.reveal()}".encode()).decode("ascii")

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Basic {self.encoded()}"
        return request

    def __repr__(self) -> str:
        return "BasicAuth(***)"


@dataclass(frozen=True, slots=True)
class Call:
    """One logical API call. ``idempotent`` calls may be retried after a timeout or a 5xx."""

    method: str
    url: str
    auth: AuthBase
    params: Mapping[str, Any] | None = None
    json: Any = None
    idempotent: bool = True

    @property
    def path(self) -> str:
        """The URL path only: the query string is never put into messages or logs."""
        return urlsplit(self.url).path

    @property
    def origin(self) -> str:
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}"


@dataclass(frozen=True, slots=True)
class _Retry:
    failure: AtlassianError
    delay: float


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounds for retries and pacing. All durations are seconds."""

    max_attempts: int = 6
    max_total_wait: float = 300.0
    max_single_wait: float = 120.0
    backoff_base: float = 1.0
    backoff_cap: float = 60.0
    max_pace_wait: float = 5.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Full-jitter exponential backoff for the wait after failed attempt number ``attempt``."""
        ceiling = min(self.backoff_cap, self.backoff_base * 2 ** (attempt - 1))
        return rng.uniform(0.0, ceiling)


@dataclass
class Transport:
    """Sends :class:`Call` objects with bounded, header-aware retries. See the module docstring."""

    session: requests.Session
    timeout: tuple[float, float]
    policy: RetryPolicy
    sleep: Callable[[float], None]
    clock: Callable[[], float]
    now: Callable[[], datetime]
    user_agent: str
    secrets: tuple[str, ...] = ()
    rng: random.Random = field(default_factory=random.Random)
    stats: CallStats = field(default_factory=CallStats)
    # The rate-limit headers of the newest response from each origin (for the preflight's report).
    rate_limit_headers: dict[str, dict[str, str]] = field(default_factory=dict)
    _not_before: dict[str, float] = field(default_factory=dict)
    # Shared with the other clients of the organization acting at the same time (pace.py): it then
    # paces every request instead of ``_not_before``.
    pacer: "Pacer | None" = None

    def send(self, call: Call) -> requests.Response:
        """Send ``call`` until it succeeds (any 2xx) or fails for good; raise AtlassianError then."""
        waited = 0.0
        attempt = 0
        while True:
            attempt += 1
            outcome = self._attempt(call, attempt)
            if isinstance(outcome, requests.Response):
                return outcome
            if attempt >= self.policy.max_attempts:
                raise self._gave_up(call, outcome.failure, f"after {attempt} attempts")
            if waited + outcome.delay > self.policy.max_total_wait:
                raise self._gave_up(call, outcome.failure, f"after {attempt} attempts, waiting budget spent")
            log.info(
                "Retrying %s %s after %s; waiting %.1f s (attempt %d of %d)",
                call.method,
                call.path,
                f"HTTP {outcome.failure.status}" if outcome.failure.status is not None else "a network error",
                outcome.delay,
                attempt,
                self.policy.max_attempts,
            )
            with foreground.waiting():
                self._sleep(outcome.delay)
            waited += outcome.delay
            self.stats.retries += 1

    def close(self) -> None:
        self.session.close()

    def redact(self, text: str) -> str:
        """Replace every known secret in ``text`` (belt and braces: messages never include them)."""
        for secret in self.secrets:
            if secret:
                text = text.replace(secret, "***")
        return text

    # -- one attempt -------------------------------------------------------------------------------

    def _attempt(self, call: Call, attempt: int) -> requests.Response | _Retry:
        """Send once: the response on success, a _Retry when another attempt is allowed; else raise."""
        try:
            # The network's time (and the pacer's) is the other threads' (governance/foreground.py).
            with foreground.waiting():
                response = self._paced_request(call)
        except NETWORK_ERRORS as exc:
            failure = self._network_error(call, exc)
            if not call.idempotent and not never_sent(exc):
                # The write may or may not have reached Atlassian: the caller's idempotent service decides.
                raise failure from exc
            return _Retry(failure, self.policy.backoff(attempt, self.rng))
        except requests.RequestException as exc:
            raise self._error(call, f"Request failed ({type(exc).__name__})", retryable=False) from exc
        self._note_rate_limit(call.origin, response)
        if 200 <= response.status_code < 300:
            return response
        failure = self._status_error(call, response)
        if not self._may_retry(call, response.status_code):
            raise failure
        delay = retry_delay(
            response.headers,
            attempt=attempt,
            now=self.now(),
            policy=self.policy,
            rng=self.rng,
            status=response.status_code,
        )
        if self.pacer is not None and response.status_code == 429:
            # Every worker of the organization waits, not only this one: the limit is theirs together.
            self.pacer.pause(delay)
        return _Retry(failure, delay)

    def _paced_request(self, call: Call) -> requests.Response:
        if self.pacer is None:
            self._wait_for_pace(call.origin)
            return self._request(call)
        waited = self.pacer.acquire(self._sleep)
        if waited > 0:
            log.debug("Pacing requests to %s: waited %.2f s (rate limit)", call.origin, waited)
        response = None
        try:
            response = self._request(call)
        finally:
            self.pacer.release(
                response.headers if response is not None else None,
                status=response.status_code if response is not None else None,
                now=self.now(),
            )
        return response

    def _request(self, call: Call) -> requests.Response:
        self.stats.requests += 1
        response = self.session.request(
            call.method,
            call.url,
            params=call.params,
            json=call.json,
            auth=call.auth,
            headers={"Accept": "application/json", "User-Agent": self.user_agent},
            timeout=self.timeout,
            # A redirect is never part of these APIs; following one could carry credentials elsewhere.
            allow_redirects=False,
            stream=True,  # the body is read below, whole
        )
        read_whole_body(response)
        status = response.status_code
        self.stats.by_status[status] = self.stats.by_status.get(status, 0) + 1
        return response

    @staticmethod
    def _may_retry(call: Call, status: int) -> bool:
        if call.idempotent:
            return status in RETRYABLE_STATUSES
        return status in WRITE_RETRY_STATUSES

    # -- errors ------------------------------------------------------------------------------------

    def _error(self, call: Call, message: str, *, code: str | None = None, **kwargs: Any) -> AtlassianError:
        # Redact before shortening, so that a cut can never leave half a secret behind.
        return AtlassianError(
            shorten(self.redact(message)),
            code=shorten(self.redact(code), 100) if code else None,
            method=call.method,
            path=self.redact(call.path),
            **kwargs,
        )

    def _network_error(self, call: Call, exc: Exception) -> AtlassianError:
        kind = "Timed out" if isinstance(exc, requests.Timeout) else "Connection failed"
        return self._error(call, f"{kind} ({type(exc).__name__})", status=None, retryable=True)

    def _status_error(self, call: Call, response: requests.Response) -> AtlassianError:
        code, message = error_details(response)
        status = response.status_code
        retryable = status in RETRYABLE_STATUSES
        return self._error(call, message, status=status, code=code, retryable=retryable)

    def _gave_up(self, call: Call, last: AtlassianError, why: str) -> AtlassianError:
        return self._error(call, f"Gave up {why}: {last.message}", status=last.status, code=last.code, retryable=True)

    # -- waiting -----------------------------------------------------------------------------------

    def _sleep(self, seconds: float) -> None:
        if seconds <= 0:
            return
        self.sleep(seconds)
        self.stats.waited_seconds += seconds

    def _note_rate_limit(self, origin: str, response: requests.Response) -> None:
        seen = {name: response.headers[name] for name in RATE_LIMIT_HEADERS if name in response.headers}
        self.rate_limit_headers[origin] = seen
        delay = pacing_delay(response.headers, now=self.now(), max_wait=self.policy.max_pace_wait)
        if delay > 0:
            ready_at = self.clock() + delay
            self._not_before[origin] = max(ready_at, self._not_before.get(origin, ready_at))

    def _wait_for_pace(self, origin: str) -> None:
        ready_at = self._not_before.pop(origin, None)
        if ready_at is None:
            return
        delay = ready_at - self.clock()
        if delay > 0:
            log.debug("Pacing requests to %s: waiting %.2f s (rate limit nearly spent)", origin, delay)
            self._sleep(delay)


def read_whole_body(response: requests.Response) -> None:
    """Read a streamed response's body now, in as few reads as the socket allows; ``content``
    then gives it as usual.

    Left to itself, requests reads a body 10 KiB at a time: a page of 100 users with their groups
    and products (about 200 KB) took 19 socket reads. Each read lets go of the interpreter lock and
    must take it back, and while a sync's main thread is working that waits up to a switch
    interval (governance/foreground.py): a dozen such waits a page, on the thread that sets the
    sync's pace. ``iter_content(None)`` reads what has arrived in one go (3 reads for that page)
    and turns a broken body into the same requests errors ``content`` raises.
    """
    # ``_content`` is where ``content`` keeps the body it read; set, ``content`` returns it.
    response._content = b"".join(response.iter_content(chunk_size=None)) or b""


def retry_delay(
    headers: Mapping[str, str],
    *,
    attempt: int,
    now: datetime,
    policy: RetryPolicy,
    rng: random.Random,
    status: int = 429,
) -> float:
    """How long to wait before retrying: Retry-After, else (on a 429) X-RateLimit-Reset, else
    jittered backoff.

    Atlassian sends ``X-RateLimit-*`` on every Admin response, so a 500/502/504 carries a reset
    time too; it only says when the rate-limit window turns over, which has nothing to do with a
    server error. Waiting for it turned a one-second blip into a wait of up to a minute per retry
    (and a spent waiting budget). The result is capped at ``policy.max_single_wait``.
    """
    delay = retry_after_seconds(headers.get("Retry-After"), now=now)
    if delay is None and status == 429:
        delay = seconds_until_reset(headers.get("X-RateLimit-Reset"), now=now)
    if delay is None:
        delay = policy.backoff(attempt, rng)
    return min(delay, policy.max_single_wait)


def retry_after_seconds(value: str | None, *, now: datetime) -> float | None:
    """Seconds from a ``Retry-After`` header: a number of seconds or an HTTP date. None if unusable."""
    if not value or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            seconds = (parse_http_date(text) - now).total_seconds()
        except ValueError:
            return None
    return max(seconds, 0.0)


def seconds_until_reset(value: str | None, *, now: datetime, past: bool = False) -> float | None:
    """Seconds until an ``X-RateLimit-Reset`` instant (ISO-8601, also ``yyyy-MM-ddTHH:mmZ``).

    None when missing, unparseable, or already past (a stale reset says nothing useful about
    the current window); with ``past``, a past one is given as a negative number.
    """
    if not value:
        return None
    try:
        seconds = (parse_timestamp(value) - now).total_seconds()
    except ValueError:
        return None
    return seconds if seconds > 0 or past else None


def pacing_delay(headers: Mapping[str, str], *, now: datetime, max_wait: float) -> float:
    """How long to hold the next request when the rate-limit budget is nearly spent.

    "Nearly spent" is ``X-RateLimit-Remaining`` at most 2 or at most 10% of ``X-RateLimit-Limit``,
    or Jira's ``X-RateLimit-NearLimit: true``. The remaining requests are then spread evenly over
    the time left until ``X-RateLimit-Reset``; without a usable reset time the pause is one second.
    Always between 0 and ``max_wait``.
    """
    limit = _int_header(headers, "X-RateLimit-Limit")
    remaining = _int_header(headers, "X-RateLimit-Remaining")
    near = headers.get("X-RateLimit-NearLimit", "").strip().lower() == "true"
    low = remaining is not None and (remaining <= 2 or (limit is not None and limit > 0 and remaining <= limit / 10))
    if not (near or low):
        return 0.0
    window = seconds_until_reset(headers.get("X-RateLimit-Reset"), now=now)
    if window is None:
        return min(1.0, max_wait)
    return min(window / max(remaining or 1, 1), max_wait)


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    try:
        return int(headers.get(name, "").strip())
    except ValueError:
        return None


def secrets_of(values: Iterable[str | None]) -> tuple[str, ...]:
    """The non-empty secrets, longest first so that a secret containing another is scrubbed whole."""
    return tuple(sorted({v for v in values if v}, key=len, reverse=True))
