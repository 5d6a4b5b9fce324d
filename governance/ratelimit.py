"""A small fixed-window rate limiter kept in the database, shared by every web process.

django-ratelimit needs memcached or Redis (DJANGO-NOTES 6), and the embedded profile has
neither, so each limited key is one ``RateLimitCounter`` row, incremented by a single
``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` statement. The database applies it
atomically: no read-modify-write race between processes, on SQLite (3.35+) and PostgreSQL alike.

Keys are an HMAC (key derived from SECRET_KEY) of the scope and the value, so the table never
holds a raw email address, client IP or link token, and a leaked table cannot be reversed by
hashing a list of addresses.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import connections, router
from django.utils import timezone
from django.utils.crypto import salted_hmac

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
    now = now or timezone.now()
    start = window_start(now, window_seconds)
    count = _increment(counter_key(scope, value), start)
    remaining = (start + timedelta(seconds=window_seconds) - now).total_seconds()
    return Hit(allowed=count <= limit, count=count, limit=limit, retry_after=max(1, int(remaining) + 1))


def _increment(key: str, start: datetime) -> int:
    """Add one to ``key``'s counter for the window beginning at ``start`` and return the new count.

    A row left from an earlier window starts again at 1. A process whose clock lags (an older
    ``start``) counts into the newer window rather than resetting it.
    """
    alias = router.db_for_write(RateLimitCounter)
    connection = connections[alias]
    opts = RateLimitCounter._meta
    q = connection.ops.quote_name
    table, key_col, start_col, count_col = (
        q(opts.db_table),
        q(opts.get_field("key").column),
        q(opts.get_field("window_start").column),
        q(opts.get_field("count").column),
    )
    start_value = opts.get_field("window_start").get_db_prep_save(start, connection)
    newer = f"{table}.{start_col} >= EXCLUDED.{start_col}"
    # Only quoted identifiers are interpolated; the key and the window are parameters.
    sql = (
        f"INSERT INTO {table} ({key_col}, {start_col}, {count_col}) VALUES (%s, %s, 1) "  # noqa: S608
        f"ON CONFLICT ({key_col}) DO UPDATE SET "
        f"{count_col} = CASE WHEN {newer} THEN {table}.{count_col} + 1 ELSE 1 END, "
        f"{start_col} = CASE WHEN {newer} THEN {table}.{start_col} ELSE EXCLUDED.{start_col} END "
        f"RETURNING {count_col}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [key, start_value])
        return int(cursor.fetchone()[0])


def purge_stale(*, older_than: timedelta = timedelta(days=1), now: datetime | None = None) -> int:
    """Delete counters whose window began before ``now - older_than`` (longer than any window in use)."""
    now = now or timezone.now()
    deleted, _ = RateLimitCounter.objects.filter(window_start__lt=now - older_than).delete()
    return deleted
