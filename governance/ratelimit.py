"""A small fixed-window rate limiter kept in the database, shared by every web process.

django-ratelimit needs memcached or Redis (DJANGO-NOTES 6), and the embedded profile has
neither, so each limited key is one ``RateLimitCounter`` row, incremented by a single
``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` statement. The database applies it
atomically: no read-modify-write race between processes, on SQLite (3.35+) and PostgreSQL alike.
:func:`hit_many` counts one request against several limits (IP, email, token) in one such
statement: one commit instead of one per limit, which is what a public page mostly waits for
(each commit is a WAL flush on PostgreSQL; bench/bench_load.py).

Keys are an HMAC (key derived from SECRET_KEY) of the scope and the value, so the table never
holds a raw email address, client IP or link token, and a leaked table cannot be reversed by
hashing a list of addresses.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import connections, router
from django.utils import timezone
from django.utils.crypto import salted_hmac

from governance.db.fetch import column_of
from governance.ratelimit_models import RateLimitCounter

_KEY_SALT = "governance.ratelimit"


@dataclass(frozen=True)
class Hit:
    """The outcome of counting one request against one limit."""

    allowed: bool
    count: int
    limit: int
    retry_after: int  # seconds until the current window ends


def counter_key(scope: str, value: str) -> str:
    return salted_hmac(_KEY_SALT, f"{scope}\x1f{value}", algorithm="sha256").hexdigest()


def window_start(now: datetime, window_seconds: int) -> datetime:
    epoch = int(now.timestamp())
    return datetime.fromtimestamp(epoch - epoch % window_seconds, tz=UTC)


def hit(scope: str, value: str, *, limit: int, window_seconds: int, now: datetime | None = None) -> Hit:
    """Count one request for ``value`` in ``scope``; ``allowed`` is False once ``limit`` is passed."""
    return hit_many([(scope, value, limit)], window_seconds=window_seconds, now=now)[0]


def hit_many(checks: Sequence[tuple[str, str, int]], *, window_seconds: int, now: datetime | None = None) -> list[Hit]:
    """Count one request against each ``(scope, value, limit)``, in one statement; one Hit per check.

    Checks naming the same scope and value are one counter, counted once for this request.
    """
    if not checks:
        return []
    now = now or timezone.now()
    start = window_start(now, window_seconds)
    keys = [counter_key(scope, value) for scope, value, _ in checks]
    counts = _increment(keys, start)
    remaining = (start + timedelta(seconds=window_seconds) - now).total_seconds()
    retry_after = max(1, int(remaining) + 1)
    return [
        Hit(allowed=counts[key] <= limit, count=counts[key], limit=limit, retry_after=retry_after)
        for key, (_, _, limit) in zip(keys, checks, strict=True)
    ]


def peek(scope: str, value: str, *, window_seconds: int, now: datetime | None = None) -> tuple[int, int]:
    """``value``'s count in ``scope`` for the current window, without counting; and the seconds until
    that window ends. A row left from an earlier window counts 0 (the next hit starts it again at 1)."""
    now = now or timezone.now()
    start = window_start(now, window_seconds)
    count = (
        RateLimitCounter.objects.filter(key=counter_key(scope, value), window_start__gte=start)
        .values_list("count", flat=True)
        .first()
    )
    remaining = (start + timedelta(seconds=window_seconds) - now).total_seconds()
    return count or 0, max(1, int(remaining) + 1)


def _increment(keys: Sequence[str], start: datetime) -> dict[str, int]:
    """Add one to each key's counter for the window beginning at ``start``; the new counts by key.

    A row left from an earlier window starts again at 1. A process whose clock lags (an older
    ``start``) counts into the newer window rather than resetting it.
    """
    # Sorted: concurrent statements lock the rows they upsert in the same order (no deadlock on
    # PostgreSQL); distinct: one statement may not update a row twice.
    keys = sorted(set(keys))
    alias = router.db_for_write(RateLimitCounter)
    connection = connections[alias]
    opts = RateLimitCounter._meta
    q = connection.ops.quote_name
    table, key_col, start_col, count_col = (
        q(opts.db_table),
        q(column_of(RateLimitCounter, "key")),
        q(column_of(RateLimitCounter, "window_start")),
        q(column_of(RateLimitCounter, "count")),
    )
    start_value = opts.get_field("window_start").get_db_prep_save(start, connection)
    newer = f"{table}.{start_col} >= EXCLUDED.{start_col}"
    # Only quoted identifiers are interpolated; the keys and the window are parameters.
    sql = (
        f"INSERT INTO {table} ({key_col}, {start_col}, {count_col}) VALUES "  # noqa: S608
        + ", ".join(["(%s, %s, 1)"] * len(keys))
        + f" ON CONFLICT ({key_col}) DO UPDATE SET "
        f"{count_col} = CASE WHEN {newer} THEN {table}.{count_col} + 1 ELSE 1 END, "
        f"{start_col} = CASE WHEN {newer} THEN {table}.{start_col} ELSE EXCLUDED.{start_col} END "
        f"RETURNING {key_col}, {count_col}"
    )
    params = [p for key in keys for p in (key, start_value)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        # RETURNING gives no order guarantee: match the rows by key.
        return {key: int(count) for key, count in cursor.fetchall()}


def purge_stale(*, older_than: timedelta = timedelta(days=1), now: datetime | None = None) -> int:
    """Delete counters whose window began before ``now - older_than`` (longer than any window in use)."""
    now = now or timezone.now()
    deleted, _ = RateLimitCounter.objects.filter(window_start__lt=now - older_than).delete()
    return deleted
