"""Batched writes for the sync's three big tables (accounts, product access, memberships).

``bulk_create`` builds a model instance and compiles every value of every row in Python: 25 to
35 µs a row here, so a first sync of 100,000 users (about 1,000,000 memberships) spent over a
minute in Django's SQL compiler. :func:`insert_rows` sends the statements ``bulk_create`` would,
``INSERT ... VALUES (...), (...), ... [ON CONFLICT (...) DO UPDATE SET col = EXCLUDED.col]``, of
up to 4,096 rows within the connection's parameter limit, with values already in their database
form (see :func:`datetime_adapter`). Every column of the model is written, as ``bulk_create`` does.

Multi-row statements rather than a one-row statement run by ``executemany``: the sqlite3 module
releases the GIL around each ``sqlite3_step``, i.e. once per row then. While the prefetch thread
parses the next page, each of those hand-overs can wait for a switch interval (see prefetch.py);
one step per thousands of rows lets SQLite's B-tree work run on one core while the parsing runs
on the other.
"""

import json
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from itertools import chain
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Model
from django.db.models.constants import OnConflict

IN_CHUNK = 500  # values per ``__in`` lookup: SQLite before 3.32 allows 999 parameters a statement
MAX_ROWS_PER_STATEMENT = 4096  # a power of two (see insert_rows)


def in_chunks(values: Sequence, size: int = IN_CHUNK) -> Iterator[Sequence]:
    """``values`` in slices small enough for one ``field__in=`` lookup (none when empty)."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


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


def datetime_reader() -> Callable[[Any], datetime | None]:
    """A function turning a stored ``DateTimeField`` value (from :func:`fetch_rows`) into what the
    ORM would give: the backend's own converter (on SQLite: parse the text, make it aware)."""
    convert = getattr(connection.ops, "convert_datetimefield_value", None)  # not needed on PostgreSQL
    if convert is None:
        return lambda value: value
    return lambda value: None if value is None else convert(value, None, connection)


def db_datetime(value):
    """One aware datetime (or None) as the backend stores it: what ``DateTimeField`` would send."""
    return None if value is None else connection.ops.adapt_datetimefield_value(value)


def insert_rows(
    model: type[Model],
    fields: Sequence[str],
    rows: Sequence[tuple],
    *,
    unique_fields: Sequence[str] = (),
    update_fields: Sequence[str] = (),
) -> None:
    """INSERT ``rows`` (tuples in the order of ``fields``, database values) into ``model``'s table.

    With ``update_fields``, a row that collides on ``unique_fields`` updates those columns instead,
    like ``bulk_create(update_conflicts=True, unique_fields=..., update_fields=...)``.

    Statements hold a power of two of rows: full ones of :func:`rows_per_statement`, then the rest
    split by its binary digits (1000 = 512 + 256 + 128 + 64 + 32 + 8). The sqlite3 module keeps
    prepared statements in a cache, and a prepared multi-row INSERT weighs hundreds of KiB: a
    handful of sizes per table keeps that cache small instead of filling it with every size seen.
    Two or more full statements go in one ``executemany`` call: Django rewrites the placeholders
    of a statement with a regular expression once per call, not once per row set.
    """
    if not rows:
        return
    key = (connection.vendor, model, tuple(fields), tuple(unique_fields), tuple(update_fields))
    per_statement = rows_per_statement(len(fields))
    full = len(rows) - len(rows) % per_statement
    with connection.cursor() as cursor:
        if full:
            sql = _insert_sql(*key, per_statement)
            params = [list(chain.from_iterable(rows[i : i + per_statement])) for i in range(0, full, per_statement)]
            if len(params) == 1:
                cursor.execute(sql, params[0])
            else:
                cursor.executemany(sql, params)
        start, size = full, per_statement
        while start < len(rows):
            size //= 2
            if len(rows) - start >= size:
                cursor.execute(_insert_sql(*key, size), list(chain.from_iterable(rows[start : start + size])))
                start += size


def rows_per_statement(columns: int) -> int:
    """The largest power of two of rows within the parameter limit, at most MAX_ROWS_PER_STATEMENT.

    Django assumes 999 parameters on SQLite (the default before 3.32); the sqlite3 module of
    Python 3.11 can ask the library for its actual limit (32,766 by default since 3.32).
    """
    max_params = connection.features.max_query_params
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        getlimit = getattr(connection.connection, "getlimit", None)
        if getlimit is not None:
            max_params = getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    rows = min(MAX_ROWS_PER_STATEMENT, max_params // columns) if max_params else MAX_ROWS_PER_STATEMENT
    return 1 << (max(rows, 1).bit_length() - 1)


def pks_by(model: type[Model], field: str, values: Sequence, **equal) -> dict:
    """``{value: pk}`` for the rows of ``model`` whose ``field`` is one of ``values`` and whose other
    fields equal ``equal``: ``filter(field__in=...).values_list(field, "pk")``, see :func:`fetch_rows`."""
    return dict(fetch_rows(model, (field, model._meta.pk.name), field, values, **equal))


def fetch_rows(model: type[Model], fields: Sequence[str], field: str, values: Sequence, **equal) -> list[Sequence]:
    """``fields`` of the rows of ``model`` whose ``field`` is one of ``values`` and whose other
    fields equal ``equal``, as database values (a datetime is its stored text on SQLite).

    ``filter(field__in=values, **equal).values_list(*fields)`` without the ORM's work on every
    value, IN_CHUNK values a query. On SQLite each query answers one row, the JSON array of the
    matching rows: the sqlite3 module releases the GIL around the step of every row it fetches,
    and while the prefetch thread is parsing, each of those hand-overs can cost a switch interval.
    """
    ops, meta = connection.ops, model._meta
    # Only quoted identifiers from the model's metadata go into the text; values are parameters.
    columns = ", ".join(ops.quote_name(meta.get_field(name).column) for name in fields)
    table, column = ops.quote_name(meta.db_table), ops.quote_name(meta.get_field(field).column)
    where = "".join(f" AND {ops.quote_name(meta.get_field(name).column)} = %s" for name in equal)
    as_json = connection.vendor == "sqlite"
    selected = f"json_group_array(json_array({columns}))" if as_json else columns
    head = f"SELECT {selected} FROM {table} WHERE 1 = 1{where}"  # noqa: S608
    rows: list[Sequence] = []
    with connection.cursor() as cursor:
        for chunk in in_chunks(values):
            cursor.execute(f"{head} AND {column} IN ({', '.join(['%s'] * len(chunk))})", [*equal.values(), *chunk])
            if as_json:
                rows.extend(json.loads(cursor.fetchone()[0]))  # lists, not tuples: unpacked alike
            else:
                rows.extend(cursor.fetchall())
    return rows


@lru_cache(maxsize=128)  # a few tables times thirteen sizes
def _insert_sql(
    vendor: str, model: type[Model], fields: tuple, unique_fields: tuple, update_fields: tuple, rows: int
) -> str:
    ops, meta = connection.ops, model._meta
    expected = {f.name for f in meta.concrete_fields if not f.primary_key}
    if set(fields) != expected:  # a column left out would get NULL, not the field's default
        raise ValueError(f"{meta.label}: give every column but the primary key, not {sorted(fields)}")
    columns = [meta.get_field(name).column for name in fields]
    # Only quoted identifiers from the model's metadata go into the text; values are parameters.
    table, names = ops.quote_name(meta.db_table), ", ".join(map(ops.quote_name, columns))
    row = f"({','.join(['%s'] * len(columns))})"  # compact: Django rewrites every %s with a regex
    sql = f"INSERT INTO {table} ({names}) VALUES {','.join([row] * rows)}"  # noqa: S608
    if update_fields:
        suffix = ops.on_conflict_suffix_sql(
            [meta.get_field(name) for name in fields],
            OnConflict.UPDATE,
            [meta.get_field(name).column for name in update_fields],
            [meta.get_field(name).column for name in unique_fields],
        )
        sql = f"{sql} {suffix}"
    return sql


@contextmanager
def sqlite_bulk_writes(*, cache_mib: int = 64, checkpoint_pages: int = 16384) -> Iterator[None]:
    """For the duration of the block, give this SQLite connection a larger page cache and WAL.

    The default 2 MiB cache holds a sliver of the indexes a large sync writes to, so pages are
    read again and, within a transaction, spilled early; the default checkpoint every 1,000 WAL
    pages (4 MiB) copies pages back and syncs the file after almost every 1,000-user batch.
    Both are connection settings and are put back afterwards; other databases are left alone.
    """
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA cache_size")
        cache_size = cursor.fetchone()[0]
        cursor.execute("PRAGMA wal_autocheckpoint")
        autocheckpoint = cursor.fetchone()[0]
        cursor.execute(f"PRAGMA cache_size = {-int(cache_mib) * 1024}")
        cursor.execute(f"PRAGMA wal_autocheckpoint = {int(checkpoint_pages)}")
    try:
        yield
    finally:
        if connection.connection is not None:  # not closed meanwhile (reopening it would be pointless)
            with connection.cursor() as cursor:
                cursor.execute(f"PRAGMA cache_size = {int(cache_size)}")
                cursor.execute(f"PRAGMA wal_autocheckpoint = {int(autocheckpoint)}")
