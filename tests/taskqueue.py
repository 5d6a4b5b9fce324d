"""The django-q2 queue as tests see it, whichever broker the settings chose.

The SQLite profile queues tasks in the database (``OrmQ`` rows, rolled back with each test); the
PostgreSQL profile queues them in a Redis list (emptied between tests by tests/conftest.py). Tests
that check what was queued, or run it in-process instead of a cluster, go through these helpers so
they mean the same thing on both.
"""

from django_q.brokers import get_broker
from django_q.conf import Conf
from django_q.models import OrmQ
from django_q.signing import SignedPackage


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
