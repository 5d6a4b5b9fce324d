"""A django-q2 cluster forks replacement workers from a process whose PostgreSQL pool is warm
(governance.dbpool): the child must open its own server sessions, never reuse the parent's."""

import multiprocessing

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


def _backend_pid_in_child(queue) -> None:
    from django.db import connection, connections

    connections.close_all()  # what a django-q2 worker does before each task
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        queue.put(cursor.fetchone()[0])


def test_a_forked_worker_never_talks_through_its_parents_pooled_connections(settings):
    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql" or not db["OPTIONS"].get("pool"):
        pytest.skip("only PostgreSQL with DATABASE_POOL has a connection pool to inherit (make test-pg)")
    from django.db import connection, connections

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    connections.close_all()  # what django-q2's sentinel does before it spawns: back into the pool
    parents = {pooled.info.backend_pid for pooled in connection.pool._pool}
    assert parents, "the parent's pool holds no idle connection: nothing to inherit"

    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_backend_pid_in_child, args=(queue,))
    child.start()
    child_backend = queue.get(timeout=60)
    child.join(timeout=30)
    assert child.exitcode == 0
    assert child_backend not in parents
