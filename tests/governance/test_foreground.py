"""A thread on a critical path runs first (governance/foreground.py): the work that can wait (a
sync's comparisons) sleeps while the sync's fetching thread runs; the fetching thread steps out
while it waits on the network or on a full queue, so nobody waits for a thread that is waiting;
nobody outside the sync waits at all, and nobody waits long."""

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from accounts.sync.prefetch import prefetching
from governance import foreground as foreground_module
from governance.foreground import Foreground, waiting
from tests.governance.atlassian_fakes import FakeTime, client_for, v2_user
from tests.governance.scripted_server import Reply, ScriptedServer

pytestmark = pytest.mark.timeout(30)  # a deadlock fails here, not after the suite's five minutes

# A give-way that should not wait is told apart from one that waits a whole turn by making the
# turn long: no timing on the scale of a busy machine's hiccups.
LONG_TURN = 5.0
AT_ONCE = LONG_TURN / 2


@pytest.fixture(autouse=True)
def long_turns(monkeypatch):
    monkeypatch.setattr(foreground_module, "LONGEST_TURN", LONG_TURN)


def test_nothing_running_gives_way_at_once():
    foreground = Foreground()
    assert foreground.running_now == 0
    foreground.give_way()


def test_the_waiting_work_sleeps_until_the_running_thread_steps_out():
    foreground = Foreground()
    order: list[str] = []
    started, release = threading.Event(), threading.Event()

    def fetcher():
        with foreground.running():
            started.set()
            release.wait()
            order.append("fetcher parsed")
            with waiting():  # now on the network: the others' turn
                order.append("fetcher waiting")

    thread = threading.Thread(target=fetcher, daemon=True)
    thread.start()
    started.wait()
    assert foreground.running_now == 1
    release.set()
    foreground.give_way()
    order.append("main worked")
    thread.join()
    assert order.index("fetcher parsed") < order.index("main worked")
    assert foreground.running_now == 0


@contextmanager
def _a_thread_running_in(foreground: Foreground) -> Iterator[None]:
    """A thread marked running in ``foreground`` for the block, never stepping out."""
    started, release = threading.Event(), threading.Event()

    def stuck():
        with foreground.running():
            started.set()
            release.wait()

    thread = threading.Thread(target=stuck, daemon=True)
    thread.start()
    started.wait()
    try:
        yield
    finally:
        release.set()
        thread.join()


def _seconds_to_give_way(foreground: Foreground) -> float:
    began = time.monotonic()
    foreground.give_way()
    return time.monotonic() - began


def test_a_turn_that_lasts_is_not_waited_for(monkeypatch):
    """A fetching thread stuck while marked running (a test holding it, a page that never ends)
    must not keep the sync's transaction open: the give-way ends after LONGEST_TURN."""
    monkeypatch.setattr(foreground_module, "LONGEST_TURN", 0.2)
    foreground = Foreground()
    with _a_thread_running_in(foreground):
        assert foreground.running_now == 1
        assert _seconds_to_give_way(foreground) < AT_ONCE
    assert foreground.running_now == 0


def test_only_the_work_of_the_same_foreground_gives_way():
    """Another sync, or a policy run's read-back in the same process, never waits for this one."""
    foreground = Foreground()
    with _a_thread_running_in(foreground):
        assert _seconds_to_give_way(Foreground()) < AT_ONCE


def test_a_running_thread_never_waits_for_itself():
    foreground = Foreground()
    with foreground.running():
        assert foreground.running_now == 1
        began = time.monotonic()
        foreground.give_way()
        assert time.monotonic() - began < AT_ONCE
    assert foreground.running_now == 0


def test_waiting_uncounts_a_thread_once_and_nothing_outside_a_foreground():
    foreground = Foreground()
    with foreground.running():
        with waiting():
            assert foreground.running_now == 0
            with waiting():
                assert foreground.running_now == 0
            assert foreground.running_now == 0
        assert foreground.running_now == 1
    with waiting():
        assert foreground.running_now == 0
    assert foreground.running_now == 0


def test_a_thread_runs_in_one_foreground_at_a_time():
    with Foreground().running(), pytest.raises(RuntimeError), Foreground().running():
        pass


def test_a_failure_inside_leaves_nobody_counted():
    foreground = Foreground()
    with pytest.raises(RuntimeError), foreground.running():
        raise RuntimeError("page failed")
    assert foreground.running_now == 0
    with foreground.running(), pytest.raises(RuntimeError), waiting():
        raise RuntimeError("network failed")
    assert foreground.running_now == 0
    with foreground.running():  # the thread may run again afterwards
        assert foreground.running_now == 1


def test_the_transport_steps_out_for_the_request_itself():
    """A fetching thread is not running while its request is out: the main thread works then."""
    foreground = Foreground()
    seen: list[int] = []
    with ScriptedServer() as server, client_for(server, FakeTime()) as client:
        server.script(Reply(json={"data": [v2_user("a1")], "links": {}}))
        session = client._transport.session
        send = session.request

        def request(*args, **kwargs):
            seen.append(foreground.running_now)
            return send(*args, **kwargs)

        session.request = request
        with foreground.running():
            users = [u.account_id for u in client.iter_users()]
            assert foreground.running_now == 1
    assert users == ["a1"]
    assert seen == [0]


def test_a_producer_blocked_on_a_full_queue_is_not_waited_for():
    """The consumer gives way between items; the producer, its one-page queue full, waits for the
    consumer: counted running then, it would hold every give-way for a whole turn."""
    foreground = Foreground()
    marked: list[int] = []
    waits: list[float] = []

    def pages():
        for n in range(5):
            marked.append(foreground.running_now)
            yield [n]

    got = []
    with prefetching(pages(), depth=1, foreground=foreground) as items:
        for item in items:
            began = time.monotonic()
            foreground.give_way()
            waits.append(time.monotonic() - began)
            got.append(item)
    assert got == [[0], [1], [2], [3], [4]]
    assert marked[0] == 1  # the queue empty, the consumer waits for this page: the producer runs first
    assert max(waits) < AT_ONCE
    assert foreground.running_now == 0


def test_a_producer_ahead_of_its_consumer_runs_in_the_background():
    """A page already waiting in the queue: the consumer is the slower side, and does not give
    way to the producer making the next one (a first sync, whose writes set the pace)."""
    foreground = Foreground()
    marked: list[int] = []
    recorded = threading.Event()

    def pages():
        yield [0]
        yield [1]  # put once the consumer holds page 0: it then waits in the queue ...
        marked.append(foreground.running_now)  # ... while page 2 is made
        recorded.set()
        yield [2]

    with prefetching(pages(), depth=1, foreground=foreground) as items:
        iterator = iter(items)
        assert next(iterator) == [0]
        recorded.wait()  # page 1 stays in the queue until then
        rest = list(iterator)
    assert rest == [[1], [2]]
    assert marked == [0]
