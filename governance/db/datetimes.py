"""Datetimes to and from their database form, as ``DateTimeField`` converts them, without the ORM's per-value work.

Used where rows are written or read by :mod:`governance.db.upsert`, :mod:`governance.db.fetch`
and :mod:`governance.db.compiled`: millions of timestamps, where Django's own call per value
showed in the profiles.
"""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import connection, connections


def datetime_adapter() -> Callable[[datetime | None], Any]:
    """A function giving what ``DateTimeField`` sends to this database for a datetime (or None).

    On SQLite with USE_TZ that is ``str()`` of the value made naive in the connection's time zone,
    as ``DatabaseOperations.adapt_datetimefield_value`` does, inlined: it runs for every timestamp
    of every row. Other databases, and naive values, go through Django's own method.
    """
    adapt = connection.ops.adapt_datetimefield_value
    if connection.vendor != "sqlite" or not settings.USE_TZ:
        return lambda value: None if value is None else adapt(value)
    tz = connection.timezone
    utc = tz if tz is UTC else object()  # the fast path below is for UTC only

    def sqlite_text(value):
        if value is None:
            return None
        if value.tzinfo is utc:  # the common case: str() of the naive value is this minus "+00:00"
            return value.isoformat(" ")[:-6]
        if value.utcoffset() is None:
            return adapt(value)
        return str(value.astimezone(tz).replace(tzinfo=None))

    return sqlite_text


def db_datetime(value):
    """One aware datetime (or None) as the backend stores it: what ``DateTimeField`` would send."""
    return None if value is None else connection.ops.adapt_datetimefield_value(value)


def aware_datetimes(using: str) -> Callable[[datetime | None], datetime | None]:
    """``value -> aware value`` for datetimes read past the ORM's converters, exactly as the ORM converts them.

    PostgreSQL's driver returns aware datetimes already. SQLite's returns them naive, in the
    connection's time zone (UTC), and Django's converter makes them aware with ``make_aware``.
    """
    db = connections[using]
    if not settings.USE_TZ or db.features.supports_timezones:
        return lambda value: value
    tz = db.timezone

    def aware(value: datetime | None) -> datetime | None:
        # make_aware(value, tz) is value.replace(tzinfo=tz); the constructor is three times faster.
        # (fold is always 0 here: these come from fromisoformat.)
        if value is None:
            return None
        return datetime(
            value.year, value.month, value.day, value.hour, value.minute, value.second, value.microsecond, tz
        )

    return aware


def stored_datetimes(using: str) -> Callable[[Any], datetime | None]:
    """``database value -> aware datetime`` for timestamps read as :func:`governance.db.fetch.fetch_rows`
    reads them: SQLite's stored text (``str()`` of the naive value in the connection's time zone, see
    :func:`datetime_adapter`) parsed and made aware; PostgreSQL's aware datetimes as they are."""
    aware = aware_datetimes(using)

    def read(value: Any) -> datetime | None:
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
            if value.utcoffset() is not None:  # text with an offset: as the ORM reads it
                return value
        return aware(value)

    db = connections[using]
    if settings.USE_TZ and not db.features.supports_timezones and db.timezone is UTC:
        parse = datetime.fromisoformat

        def read_utc(value: Any) -> datetime | None:
            # The text with "+00:00" parses straight to an aware value, its tzinfo UTC itself:
            # a third of the cost of parsing naive and rebuilding (a re-sync reads ~460,000).
            if value.__class__ is str:
                try:
                    moment = parse(value + "+00:00")
                except ValueError:  # not the text Django writes (an offset already?): the general way
                    return read(value)
                return moment if moment.tzinfo is not None else read(value)  # a date alone
            return aware(value)

        return read_utc

    return read
