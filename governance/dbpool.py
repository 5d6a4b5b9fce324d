"""PostgreSQL connection pools (DATABASE_POOL) in processes that fork.

A django-q2 cluster forks its workers from a process that has used the database (the scheduler
runs there) whenever it replaces one (after ``recycle`` tasks, ``max_rss``, a timeout). The child
inherits the parent's psycopg pool, idle connections included: it would send its queries down the
parent's sockets, to the same server session, and the two processes' results interleave (measured:
a forked child got the parent's backend pid). Django's ``close_all()`` before the fork only puts
connections back in that pool.

So, in every forked child, the inherited pools are set aside and the child opens its own on first
use. They are not closed: closing would end the parent's sessions. psycopg never finishes a
connection it garbage-collects in another process than the one that opened it, and the pools are
kept referenced here anyway, so nothing of the parent's is touched.
"""

import sys

_inherited: list[dict] = []


def forget_inherited_pools() -> None:
    """``os.register_at_fork(after_in_child=...)``: this process starts with no pool of its own."""
    base = sys.modules.get("django.db.backends.postgresql.base")
    if base is None:  # the parent never used PostgreSQL
        return
    pools = base.DatabaseWrapper._connection_pools
    if pools:
        _inherited.append(dict(pools))
        pools.clear()
    from django.db import connections

    for wrapper in connections.all(initialized_only=True):
        if wrapper.vendor == "postgresql" and wrapper.connection is not None:
            _inherited.append({"connection": wrapper.connection})
            wrapper.connection = None  # the parent's: forget it, never close it
