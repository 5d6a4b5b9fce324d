"""The django-q2 queue as tests see it, whichever broker the settings chose.

The SQLite profile queues tasks in the database (``OrmQ`` rows, rolled back with each test); the
PostgreSQL profile queues them in a Redis list (emptied between tests by tests/conftest.py). Tests
that check what was queued, or run it in-process instead of a cluster, go through these helpers so
they mean the same thing on both.
"""

from contextlib import ExitStack
from multiprocessing import Event, Value
from unittest import mock

from django_q.brokers import get_broker
from django_q.conf import Conf
from django_q.models import OrmQ
from django_q.monitor import monitor
from django_q.pusher import pusher
from django_q.queues import Queue
from django_q.scheduler import scheduler
from django_q.signing import SignedPackage
from django_q.worker import worker


def uses_redis() -> bool:
    return not Conf.ORM


def _payloads(*, remove: bool) -> list[str]:
    broker = get_broker()
    if not uses_redis():
        rows = list(OrmQ.objects.filter(key=broker.list_key).order_by("id"))
        if remove:
            OrmQ.objects.filter(pk__in=[row.pk for row in rows]).delete()
        return [row.payload for row in rows]
    redis, key = broker.connection, broker.list_key
    if not remove:
        return [item.decode() for item in redis.lrange(key, 0, -1)]
    taken = []
    while (item := redis.lpop(key)) is not None:
        taken.append(item.decode())
    return taken


def queued() -> list[dict]:
    """Every task waiting in the queue, oldest first, as django-q2 packages (func, args, kwargs ...)."""
    return [SignedPackage.loads(payload) for payload in _payloads(remove=False)]


def queue_size() -> int:
    return len(_payloads(remove=False))


def take_all() -> list[dict]:
    """Remove every waiting task from the queue and return them, oldest first."""
    return [SignedPackage.loads(payload) for payload in _payloads(remove=True)]


def purge() -> None:
    """Empty this run's queue (Redis only needs it: OrmQ rows go with the test's transaction)."""
    get_broker().purge_queue()


def _as_in_a_cluster() -> ExitStack:
    """What running django-q2's loops inside a test needs: the scheduler, worker and monitor close
    "old" database connections first, which inside the test's transaction would close the test's own
    connection (sync mode keeps them for the same reason); and they retitle the process."""
    stack = ExitStack()
    for module in ("scheduler", "worker", "monitor"):
        stack.enter_context(mock.patch(f"django_q.{module}.close_old_django_connections", return_value=None))
    for module in ("pusher", "worker", "monitor"):
        stack.enter_context(mock.patch(f"django_q.{module}.setproctitle", None))
    return stack


def run_due_schedules() -> None:
    """One pass of django-q2's scheduler: every due schedule becomes a queued task."""
    with _as_in_a_cluster():
        scheduler(broker=get_broker())


def run_queued_tasks() -> int:
    """Run every waiting task as a cluster does (pusher, worker, monitor: django-q2's own code, its
    signals included), in this process and in order; return how many ran."""
    broker = get_broker()
    task_queue, result_queue = Queue(), Queue()
    stop_after_one_pull = Event()
    stop_after_one_pull.set()
    with _as_in_a_cluster():
        for _ in range(1000):
            if not broker.queue_size():  # the ORM broker counts only tasks not yet pulled
                break
            pusher(task_queue, stop_after_one_pull, broker=broker)
        ran = task_queue.qsize()
        task_queue.put("STOP")
        worker(task_queue, result_queue, Value("f", -1), timeout=None)  # no SIGALRM in the test process
        result_queue.put("STOP")
        monitor(result_queue, broker=broker)
    return ran
