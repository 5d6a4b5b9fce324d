"""Fault injection (scripted and random) and the rate-limit windows.

Scripted faults are consumed in the order they were added by the first requests whose path
contains ``path_contains`` (any request when None). Random faults come from the config rates and
can be changed at run time through the attributes of :class:`Faults`.

Fault kinds, decided before a request is routed (so a failed, dropped or rate-limited request
changes nothing), except ``malformed``, which lets the request run and then truncates its body:
- ``fail``: the status given (default 503) with the family's error body, ``Retry-After`` if asked;
- ``rate_limit``: 429 with ``Retry-After`` and ``X-RateLimit-*`` (remaining 0);
- ``drop``: the socket is closed without any response;
- ``malformed``: 200 with ``Content-Type: application/json`` and a truncated JSON body;
- ``delay``: extra latency before the request is handled;
- ``cursor_repeat``: the request runs, and a paged answer's ``links.next`` leads back to the page
  just served (a fresh token each time, as opaque server-side cursors would be): a listing that
  goes round in circles;
- ``cursor_skip``: the request runs, and a paged answer's ``links.next`` jumps over the following
  page, whose items are never served (on the last page but one, ``next`` disappears): a listing
  that silently loses items;
- an expired org API key (``expire_api_key``, or ``SimulatorConfig.api_key_expired``): every Admin
  and User management request answers 401 until the key is renewed; Jira's token still works.

The two cursor faults only change answers that carry ``links.self`` (the Admin API listings);
give them a ``path_contains`` so that they are not spent on other requests. Every scripted fault
may wait for ``after`` matching requests to pass untouched first ("the third page").
"""

import math
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass

from .config import SimulatorConfig


@dataclass
class _Script:
    kind: str
    remaining: int
    path_contains: str | None
    status: int = 503
    retry_after: int | None = None
    seconds: float = 0.0
    after: int = 0  # matching requests let through before the fault starts


@dataclass(frozen=True)
class Decision:
    kind: str  # fail | rate_limit | drop | malformed | cursor_repeat | cursor_skip
    status: int = 200
    retry_after: int | None = None


class Faults:
    def __init__(self, config: SimulatorConfig):
        self._lock = threading.Lock()
        self._scripts: list[_Script] = []
        self._rng = random.Random(f"atlassian-simulator-faults:{config.seed}")
        self.error_rate = config.error_rate
        self.latency_ms = config.latency_ms
        self.malformed_rate = config.malformed_rate
        self.drop_rate = config.drop_rate
        self.cursor_repeat_rate = config.cursor_repeat_rate
        self.cursor_skip_rate = config.cursor_skip_rate
        # The org API key has expired: Admin and User management requests answer 401 until renewed.
        self.api_key_expired = config.api_key_expired
        self.injected: Counter[str] = Counter()

    # -- scripting -------------------------------------------------------------------------------
    def _add(self, script: _Script) -> None:
        if script.remaining < 1:
            raise ValueError("n must be at least 1")
        if script.after < 0:
            raise ValueError("after must not be negative")
        with self._lock:
            self._scripts.append(script)

    def fail_next(
        self,
        n: int = 1,
        *,
        status: int = 503,
        path_contains: str | None = None,
        retry_after: int | None = None,
        after: int = 0,
    ) -> None:
        self._add(_Script("fail", n, path_contains, status=status, retry_after=retry_after, after=after))

    def malformed_next(self, n: int = 1, *, path_contains: str | None = None, after: int = 0) -> None:
        self._add(_Script("malformed", n, path_contains, after=after))

    def drop_next(self, n: int = 1, *, path_contains: str | None = None, after: int = 0) -> None:
        self._add(_Script("drop", n, path_contains, after=after))

    def rate_limit_burst(
        self, n: int = 1, *, retry_after: int = 2, path_contains: str | None = None, after: int = 0
    ) -> None:
        self._add(_Script("rate_limit", n, path_contains, status=429, retry_after=retry_after, after=after))

    def delay_next(self, n: int = 1, *, seconds: float, path_contains: str | None = None, after: int = 0) -> None:
        self._add(_Script("delay", n, path_contains, seconds=seconds, after=after))

    def cursor_repeat_next(self, n: int = 1, *, path_contains: str | None = None, after: int = 0) -> None:
        """The next ``n`` matching listings hand back a cursor to the page just served."""
        self._add(_Script("cursor_repeat", n, path_contains, after=after))

    def cursor_skip_next(self, n: int = 1, *, path_contains: str | None = None, after: int = 0) -> None:
        """The next ``n`` matching listings hand back a cursor that jumps over one page."""
        self._add(_Script("cursor_skip", n, path_contains, after=after))

    def expire_api_key(self, expired: bool = True) -> None:
        """The org API key expires (keys last at most a year) or, with False, is renewed."""
        self.api_key_expired = expired

    def clear(self) -> None:
        """Drop every scripted fault, switch the random ones off and renew an expired key."""
        with self._lock:
            self.api_key_expired = False
            self._scripts.clear()
            self.error_rate = self.malformed_rate = self.drop_rate = 0.0
            self.cursor_repeat_rate = self.cursor_skip_rate = 0.0
            self.latency_ms = 0

    @property
    def pending(self) -> int:
        with self._lock:
            return sum(s.remaining for s in self._scripts)

    # -- deciding --------------------------------------------------------------------------------
    def decide(self, path: str) -> tuple[float, Decision | None]:
        """Seconds to wait before handling, and the fault to inject (None: handle normally)."""
        with self._lock:
            delay = 0.0
            if self.latency_ms:
                delay += self.latency_ms * (1.0 + 0.5 * self._rng.random()) / 1000.0
            decision = None
            for script in list(self._scripts):
                if script.path_contains is not None and script.path_contains not in path:
                    continue
                if script.after > 0:
                    script.after -= 1
                    continue
                if script.kind == "delay":
                    delay += script.seconds
                elif decision is None:
                    decision = Decision(script.kind, script.status, script.retry_after)
                else:
                    continue
                script.remaining -= 1
                if script.remaining <= 0:
                    self._scripts.remove(script)
            if decision is None:
                decision = self._random()
            if decision is not None:
                self.injected[decision.kind] += 1
            return delay, decision

    def _random(self) -> Decision | None:
        r = self._rng.random
        if self.drop_rate and r() < self.drop_rate:
            return Decision("drop")
        if self.error_rate and r() < self.error_rate:
            status = self._rng.choice((500, 502, 503, 503))
            return Decision("fail", status, 1 if status == 503 else None)
        if self.malformed_rate and r() < self.malformed_rate:
            return Decision("malformed")
        return None

    def decide_cursor(self) -> Decision | None:
        """A random cursor fault for a paged answer that no other fault touched (config rates)."""
        with self._lock:
            decision = None
            if self.cursor_repeat_rate and self._rng.random() < self.cursor_repeat_rate:
                decision = Decision("cursor_repeat")
            elif self.cursor_skip_rate and self._rng.random() < self.cursor_skip_rate:
                decision = Decision("cursor_skip")
            if decision is not None:
                self.injected[decision.kind] += 1
            return decision


@dataclass(frozen=True)
class Window:
    allowed: bool
    limit: int
    remaining: int
    reset: float  # wall-clock epoch of the next reset

    @property
    def retry_after(self) -> int:
        return max(1, math.ceil(self.reset - time.time()))


class RateLimiter:
    """Fixed one-minute windows per key, each starting at the key's first request."""

    def __init__(self, period: float = 60.0):
        self.period = period
        self._lock = threading.Lock()
        self._windows: dict[str, list[float]] = {}

    def hit(self, key: str, limit: int) -> Window:
        now = time.time()
        with self._lock:
            window = self._windows.get(key)
            if window is None or now >= window[0] + self.period:
                window = [now, 0.0]
                self._windows[key] = window
            window[1] += 1
            count = int(window[1])
            return Window(count <= limit, limit, max(0, limit - count), window[0] + self.period)

    def peek(self, key: str, limit: int) -> Window:
        """The key's window without counting a request."""
        now = time.time()
        with self._lock:
            window = self._windows.get(key)
            if window is None or now >= window[0] + self.period:
                return Window(True, limit, limit, now + self.period)
            count = int(window[1])
            return Window(count < limit, limit, max(0, limit - count), window[0] + self.period)

    def reset(self) -> None:
        with self._lock:
            self._windows.clear()
