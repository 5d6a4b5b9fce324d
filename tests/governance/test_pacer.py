"""The organization's pacer (governance/atlassian/client/pace.py), on a clock the test moves."""

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from governance.atlassian.client.pace import RESET_MARGIN, Pacer

NOW = datetime(2026, 3, 2, 12, 0, 0, tzinfo=UTC)


class Clock:
    def __init__(self):
        self.t = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


def _headers(*, remaining: int, limit: int = 100, reset_in: float = 10, near: bool = False) -> dict[str, str]:
    headers = {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": (NOW + timedelta(seconds=reset_in)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if near:
        headers["X-RateLimit-NearLimit"] = "true"
    return headers


def _one(pacer: Pacer, clock: Clock, headers=None, status=200) -> float:
    waited = pacer.acquire(clock.sleep)
    pacer.release(headers, status=status, now=NOW)
    return waited


def test_requests_go_at_once_while_the_budget_lasts_then_all_wait_for_the_reset():
    clock = Clock()
    pacer = Pacer(slots=4, clock=clock)
    assert _one(pacer, clock, _headers(remaining=50)) == 0
    waits = [_one(pacer, clock) for _ in range(50)]
    assert waits == [0] * 50
    assert _one(pacer, clock) == pytest.approx(10 + RESET_MARGIN)
    assert pacer.stats.windows_waited == 1
    # The new window's budget is the limit: the next requests go at once again.
    assert _one(pacer, clock) == pytest.approx(10 + RESET_MARGIN)  # still before the turn on this clock
    clock.t += 20
    assert _one(pacer, clock) == 0


def test_requests_still_in_flight_are_counted_against_what_an_answer_says_is_left():
    clock = Clock()
    pacer = Pacer(slots=8, clock=clock)
    for _ in range(3):
        pacer.acquire(clock.sleep)  # three requests out, none answered
    pacer.release(_headers(remaining=3), status=200, now=NOW)  # the other two may not be counted yet
    assert _one(pacer, clock) == 0
    assert _one(pacer, clock) > 10


def test_a_429_pauses_every_worker_until_its_retry_after():
    clock = Clock()
    pacer = Pacer(slots=4, clock=clock)
    pacer.pause(3)
    assert _one(pacer, clock) == pytest.approx(3)
    assert pacer.stats.pauses == 1


def test_a_nearly_spent_budget_spaces_the_requests_out_over_the_time_left():
    clock = Clock()
    pacer = Pacer(slots=4, clock=clock, max_pace_wait=5)
    _one(pacer, clock, _headers(remaining=10, reset_in=20, near=True))
    first, second, third = (pacer.acquire(clock.sleep) for _ in range(3))
    assert (first, second, third) == (0, pytest.approx(2), pytest.approx(4))


def test_no_more_requests_are_in_flight_than_the_slots():
    clock = Clock()
    pacer = Pacer(slots=2, clock=clock)
    pacer.acquire(clock.sleep)
    pacer.acquire(clock.sleep)
    third = threading.Event()
    thread = threading.Thread(target=lambda: (pacer.acquire(clock.sleep), third.set()))
    thread.start()
    # Sleep and look rather than a timed wait meant to expire: under Debian's libfaketime (the CI's
    # timeless run) such a wait never returns.
    time.sleep(0.3)
    assert not third.is_set()
    pacer.release(None, status=None, now=NOW)
    assert third.wait(5)
    thread.join(5)
    assert pacer.stats.max_in_flight == 2


def test_answers_from_the_spent_window_never_hand_out_the_next_windows_budget_twice():
    """The requests reserved for the next window wait for its turn while the spent window's last
    answers come in: those answers (their reset before the turn) say nothing about the new budget.
    Taken for a new window's first answers, each one restarted the count, and more requests than
    the limit were reserved for the turn (three or four restarts a turn in the log of 10,000
    suspensions, issue 20)."""
    clock = Clock()
    pacer = Pacer(slots=16, clock=clock)
    _one(pacer, clock, _headers(remaining=10, limit=20, reset_in=10))
    for _ in range(10):  # the window's last ten requests, out and not answered yet
        assert pacer.acquire(clock.sleep) == 0
    turn = 10 + RESET_MARGIN
    waits = [pacer.acquire(clock.sleep) for _ in range(5)]  # reserved for the next window
    assert waits == [pytest.approx(turn)] * 5
    for _ in range(10):  # the spent window's answers arrive before the turn
        pacer.release(_headers(remaining=0, limit=20, reset_in=9), status=200, now=NOW)
    for _ in range(30):
        waits.append(pacer.acquire(clock.sleep))
        pacer.release(None, status=None, now=NOW)  # no answer yet from the new window
    assert sum(1 for wait in waits if wait == pytest.approx(turn)) == 20  # the new window's limit, no more
    assert min(waits[20:]) > turn


def test_requests_out_when_a_window_ends_count_against_the_next_until_answered_in_the_old():
    """A request sent just before the reset may land after it, in the new window: until its answer
    says which window counted it, it is counted against the new one."""
    clock = Clock()
    pacer = Pacer(slots=16, clock=clock)
    _one(pacer, clock, _headers(remaining=15, limit=20, reset_in=2))
    for _ in range(4):  # out near the end of the window
        pacer.acquire(clock.sleep)
    clock.t += 2 + RESET_MARGIN  # the window is over: the next request opens the new one
    waits = []
    for _ in range(20):
        waits.append(pacer.acquire(clock.sleep))
        pacer.release(None, status=None, now=NOW)
    assert waits[:16] == [0] * 16  # 20 less the 4 that may have landed in it
    assert waits[16] > 0


def test_a_window_opened_by_a_spaced_request_holds_the_others_until_it_begins():
    """When the budget is nearly spent, requests are spaced out, so the one that opens the next
    window may be due a while after it is reserved. The new budget only exists from then: a
    request reserved meanwhile went at once, into the old window, and was answered 429."""
    clock = Clock()
    pacer = Pacer(slots=8, clock=clock, max_pace_wait=5)
    _one(pacer, clock, _headers(remaining=2, limit=100, reset_in=3, near=True))
    assert pacer.acquire(clock.sleep) == 0
    clock.t += 3.5  # past the reset, before the margin after it: the old window may still be open
    pacer.acquire(clock.sleep)  # the last of the old budget
    opening = pacer.acquire(clock.sleep)  # spaced: due after the reset's margin, it opens the new window
    assert opening > RESET_MARGIN - 0.5
    assert pacer.acquire(clock.sleep) == pytest.approx(opening)  # not before the new window's turn


def test_an_answer_whose_reset_is_long_past_still_tells_what_is_left():
    """Only an answer whose reset is just before the new window's turn is the old window's. A
    reset long past (Jira's is to the minute) says nothing of where the request was counted: what
    the answer says is left still holds."""
    clock = Clock()
    pacer = Pacer(slots=8, clock=clock)
    _one(pacer, clock, _headers(remaining=15, limit=20, reset_in=2))
    for _ in range(4):
        pacer.acquire(clock.sleep)
    clock.t += 2 + RESET_MARGIN
    _one(pacer, clock)  # opens the new window
    pacer.release(_headers(remaining=0, limit=20, reset_in=-30), status=200, now=NOW)
    assert pacer.acquire(clock.sleep) > 0  # nothing left, as the answer says
