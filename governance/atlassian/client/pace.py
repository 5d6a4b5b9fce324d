"""One pacer per organization per process: the workers of a run share Atlassian's rate limit.

Several threads acting for one organization at once (accounts/pool.py) each hold their own
client and HTTP session, but Atlassian counts their requests together. Left to themselves, each
would learn about the limit only from its own responses: they would overrun it together and all
get 429s. The :class:`Pacer` sees every request and every response of the organization's clients
and decides, before each request, when it may leave:

- at most ``slots`` requests are in flight at once (``ATLASSIAN_CONCURRENCY``);
- it counts the budget down itself between responses (``X-RateLimit-Remaining``, less what is
  still in flight: an estimate that errs low), and when the budget is spent every worker waits
  for ``X-RateLimit-Reset`` (plus a margin: the header is to the second), then goes on at full
  speed in the new window;
- when the budget is nearly spent (``X-RateLimit-NearLimit: true``, or Remaining low) requests
  are spaced out evenly over the time left (:func:`~.transport.pacing_delay`);
- a 429 pauses every worker until ``Retry-After`` (or the reset) has passed, not only the one that
  got it.

A window's budget is counted from its turn (the reset, when it was spent), and the requests
reserved for it wait for that turn while the spent window's last answers still come in. Those
answers (their reset just before the turn) say nothing about the new budget: taken for the new
window's first answers, each one restarted the count. Nobody goes before the turn either when
the request opening the window was spaced out to after the reset: the others, no longer spaced,
went at once, into the old window, and were answered 429 (nine, in an event log of 10,000
suspensions, issue 20). Requests still out when a window begins may land in it (sent just before
the reset, answered after): they are counted against the new budget until an answer from the old
window shows where they were counted.

Waits go through the caller's ``sleep`` (the transport's, a seam for tests) and are computed once
per request under the lock, so a sleep that does not really sleep cannot spin.
"""

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from .transport import pacing_delay, seconds_until_reset

# The reset header is to the second (and Jira's to the minute): waiting this much past it keeps the
# first request of the new window from landing in the old one.
RESET_MARGIN = 1.0
# Without a reset time, a spent budget is retried after this long.
UNKNOWN_RESET_WAIT = 1.0


@dataclass
class PacerStats:
    """What the pacer did, for benchmarks and tests."""

    requests: int = 0
    waits: int = 0
    waited_seconds: float = 0.0
    pauses: int = 0  # 429s that paused every worker
    windows_waited: int = 0  # times the budget was spent and the workers waited for the reset
    max_in_flight: int = 0


class Pacer:
    """See the module docstring. Thread-safe; ``clock`` is monotonic seconds."""

    def __init__(self, *, slots: int, clock: Callable[[], float], max_pace_wait: float = 5.0):
        if slots < 1:
            raise ValueError("slots must be at least 1")
        self.slots = slots
        self.clock = clock
        self.max_pace_wait = max_pace_wait
        self.stats = PacerStats()
        self._slots = threading.BoundedSemaphore(slots)
        self._lock = threading.Lock()
        self._in_flight = 0
        self._resume_at = 0.0  # no request before this (a 429's pause)
        self._next_at = 0.0  # the next request's earliest start when spacing requests out
        self._spacing = 0.0
        self._remaining: int | None = None  # the estimated budget left in the current window
        self._limit: int | None = None
        self._reset_at: float | None = None  # when the current window ends (clock time)
        self._window_start: float | None = None  # when the budget counted now began (its turn)
        self._carried = 0  # requests out when it began, counted against it until answered in the old one

    def acquire(self, sleep: Callable[[float], None]) -> float:
        """Wait for a slot and for the rate limit; returns the seconds waited for the limit.
        Every call must be followed by :meth:`release`, whatever happens to the request."""
        self._slots.acquire()
        try:
            with self._lock:
                delay = self._reserve()
                self._in_flight += 1
                self.stats.requests += 1
                self.stats.max_in_flight = max(self.stats.max_in_flight, self._in_flight)
                if delay > 0:
                    self.stats.waits += 1
                    self.stats.waited_seconds += delay
        except BaseException:
            self._slots.release()
            raise
        if delay > 0:
            sleep(delay)
        return delay

    def release(self, headers: Mapping[str, str] | None, *, status: int | None, now: datetime) -> None:
        """The request is over: learn from its response's headers (None: no response came)."""
        try:
            with self._lock:
                self._in_flight -= 1
                if headers is not None:
                    self._observe(headers, status=status, now=now)
        finally:
            self._slots.release()

    def pause(self, seconds: float) -> None:
        """Hold every worker for ``seconds`` (a 429's Retry-After, or its reset)."""
        if seconds <= 0:
            return
        with self._lock:
            self.stats.pauses += 1
            self._resume_at = max(self._resume_at, self.clock() + seconds)

    # -- under the lock ----------------------------------------------------------------------------

    def _reserve(self) -> float:
        """When this request may leave (as a delay from now), counting it against the budget."""
        now = self.clock()
        start = max(now, self._resume_at, self._next_at)
        if self._reset_at is not None and start >= self._reset_at + RESET_MARGIN:
            # Over: this request opens the next window. It may be due a while from now (spaced
            # out), and the new budget only exists from then: nobody goes before it.
            self._resume_at = max(self._resume_at, start)
            self._new_window(start)
        if self._remaining is not None and self._remaining <= 0:
            # Spent: this request goes in the next window, and the window after that is a fresh budget.
            self.stats.windows_waited += 1
            if self._reset_at is not None:
                turn = self._reset_at + RESET_MARGIN
            else:  # a window whose reset no answer has told yet: not before it has begun
                turn = max(now, self._window_start or now) + UNKNOWN_RESET_WAIT
            start = max(start, turn)
            # Nobody goes before the turn: the new budget only exists from then on.
            self._resume_at = max(self._resume_at, start)
            self._new_window(start)
        if self._remaining is not None:
            self._remaining -= 1
        self._next_at = start + self._spacing if self._spacing > 0 else 0.0
        return start - now

    def _new_window(self, start: float) -> None:
        self._window_start = start
        self._carried = self._in_flight
        self._remaining = None if self._limit is None else self._limit - self._in_flight
        self._reset_at = None
        self._spacing = 0.0

    def _observe(self, headers: Mapping[str, str], *, status: int | None, now: datetime) -> None:
        limit = _int(headers.get("X-RateLimit-Limit"))
        remaining = _int(headers.get("X-RateLimit-Remaining"))
        if limit is not None:
            self._limit = limit
        until = seconds_until_reset(headers.get("X-RateLimit-Reset"), now=now, past=True)
        reset_at = self.clock() + until if until is not None else None
        if (
            reset_at is not None
            and self._window_start is not None
            and self._window_start - 2 * RESET_MARGIN <= reset_at < self._window_start
        ):
            # An answer from the window just before the budget counted now (its reset just before
            # the turn, maybe already past): it was counted there. Only just before: a reset far
            # in the past says nothing of where it was counted (Jira's is to the minute).
            if self._carried > 0:
                self._carried -= 1
                if self._remaining is not None:
                    self._remaining += 1
            return
        if until is not None and until <= 0:
            reset_at = None  # past: says nothing about the current window
        if reset_at is not None and self._reset_at is not None and reset_at < self._reset_at - 0.5:
            return  # a late answer from a window that is over
        if reset_at is not None and (self._reset_at is None or reset_at > self._reset_at + 0.5):
            self._reset_at = reset_at  # a new window: its budget is what this answer says
            self._remaining = None
        if status == 429:
            remaining = 0
        if remaining is not None:
            # The requests still in flight may not be counted in this answer yet: count them spent.
            estimate = max(remaining - self._in_flight, 0)
            self._remaining = estimate if self._remaining is None else min(self._remaining, estimate)
        self._spacing = pacing_delay(headers, now=now, max_wait=self.max_pace_wait) if status != 429 else 0.0


def _int(value: str | None) -> int | None:
    try:
        return int((value or "").strip())
    except ValueError:
        return None


_pacers: dict[tuple[str, int], Pacer] = {}
_registry_lock = threading.Lock()


def shared_pacer(key: str, *, slots: int, clock: Callable[[], float]) -> Pacer:
    """The process's pacer for ``key`` (an organization's API base and id) with ``slots`` slots."""
    with _registry_lock:
        pacer = _pacers.get((key, slots))
        if pacer is None:
            pacer = _pacers[(key, slots)] = Pacer(slots=slots, clock=clock)
        return pacer
