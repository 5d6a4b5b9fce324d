"""Threads on a critical path run first (governance/foreground.py): the work that can wait
(a sync's comparisons) sleeps while a fetching thread runs, and the fetching threads step out
while they wait on the network or on a full queue, so nobody waits for a thread that is waiting."""

import threading

import pytest

from accounts.sync.prefetch import prefetching
from governance import foreground
from tests.governance.atlassian_fakes import FakeTime, client_for, v2_user
from tests.governance.scripted_server import Reply, ScriptedServer

pytestmark = pytest.mark.timeout(30)  # a deadlock fails here, not after the suite's five minutes


def test_nothing_running_gives_way_at_once():
    assert foreground.running_now() == 0
    foreground.give_way()


def test_the_waiting_work_sleeps_until_the_running_thread_steps_out():
    order: list[str] = []
    started, release = threading.Event(), threading.Event()

    def fetcher():
        with foreground.running():
            started.set()
            release.wait()
            order.append("fetcher parsed")
            with foreground.waiting():  # now on the network: the others' turn
                order.append("fetcher waiting")

    thread = threading.Thread(target=fetcher)
    thread.start()
    started.wait()
    assert foreground.running_now() == 1
    release.set()
    foreground.give_way()
    order.append("main worked")
    thread.join()
    assert order.index("fetcher parsed") < order.index("main worked")
    assert foreground.running_now() == 0


def test_a_running_thread_never_waits_for_itself():
    with foreground.running():
        assert foreground.running_now() == 1
        foreground.give_way()
    assert foreground.running_now() == 0


def test_nesting_counts_a_thread_once_and_waiting_uncounts_it():
    with foreground.running():
        with foreground.running():
            assert foreground.running_now() == 1
            with foreground.waiting():
                assert foreground.running_now() == 0
                with foreground.waiting(), foreground.running():
                    assert foreground.running_now() == 0
                assert foreground.running_now() == 0
            assert foreground.running_now() == 1
        assert foreground.running_now() == 1
    assert foreground.running_now() == 0


def test_waiting_outside_running_changes_nothing():
    with foreground.waiting():
        assert foreground.running_now() == 0
    assert foreground.running_now() == 0


def test_a_failure_inside_leaves_nobody_counted():
    with pytest.raises(RuntimeError), foreground.running():
        raise RuntimeError("page failed")
    assert foreground.running_now() == 0
    with foreground.running(), pytest.raises(RuntimeError), foreground.waiting():
        raise RuntimeError("network failed")
    assert foreground.running_now() == 0


def test_the_transport_steps_out_for_the_request_itself():
    """A fetching thread is not running while its request is out: the main thread works then."""
    seen: list[int] = []
    with ScriptedServer() as server, client_for(server, FakeTime()) as client:
        server.script(Reply(json={"data": [v2_user("a1")], "links": {}}))
        session = client._transport.session
        send = session.request

        def request(*args, **kwargs):
            seen.append(foreground.running_now())
            return send(*args, **kwargs)

        session.request = request
        with foreground.running():
            users = [u.account_id for u in client.iter_users()]
            assert foreground.running_now() == 1
    assert users == ["a1"]
    assert seen == [0]


def test_a_producer_blocked_on_a_full_queue_is_not_waited_for():
    """The consumer gives way between items; the producer, its one-page queue full, waits for the
    consumer: were it still counted running, each would wait for the other for ever."""
    marked: list[int] = []

    def pages():
        for n in range(5):
            marked.append(foreground.running_now())
            yield [n]

    got = []
    with prefetching(pages(), depth=1) as items:
        for item in items:
            foreground.give_way()
            got.append(item)
    assert got == [[0], [1], [2], [3], [4]]
    assert marked[0] == 1  # the queue empty, the consumer waits for this page: the producer runs first
    assert foreground.running_now() == 0


def test_a_producer_ahead_of_its_consumer_runs_in_the_background():
    """A page already waiting in the queue: the consumer is the slower side, and does not give
    way to the producer making the next one (a first sync, whose writes set the pace)."""
    marked: list[int] = []
    recorded = threading.Event()

    def pages():
        yield [0]
        yield [1]  # put once the consumer holds page 0: it then waits in the queue ...
        marked.append(foreground.running_now())  # ... while page 2 is made
        recorded.set()
        yield [2]

    with prefetching(pages(), depth=1) as items:
        iterator = iter(items)
        assert next(iterator) == [0]
        recorded.wait()  # page 1 stays in the queue until then
        rest = list(iterator)
    assert rest == [[1], [2]]
    assert marked == [0]
