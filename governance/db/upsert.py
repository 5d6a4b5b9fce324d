"""Batched INSERTs for the big tables: the sync's and the seed import's upserts, the audit trail's rows.

Why not ``bulk_create``: it builds a model instance and compiles every value of every row in
Python, 25 to 100 µs a row here, so a first sync of 100,000 users (about 1,000,000
memberships) spent over a minute in Django's SQL compiler, and a seed of the same size as long.
:func:`upsert` sends the statements ``bulk_create`` would, ``INSERT ... VALUES (...), (...), ...
[ON CONFLICT ...]``, with values already in their database form (see
:func:`governance.db.datetimes.datetime_adapter`).

Multi-row statements rather than one one-row statement run by ``executemany`` (the seed import
had its own helper doing that): measured on the same 50,000 rows of nine columns, a fresh insert
then an upsert of all of them, in one transaction (2 shared cores, the second of two runs)::

                        multi-row        executemany, one row a statement
    SQLite 3            0.15 s / 0.13 s  0.17 s / 0.18 s
    PostgreSQL 15       0.96 s / 1.05 s  1.79 s / 2.01 s

On PostgreSQL each statement is a round trip; on SQLite the sqlite3 module releases the GIL
around each ``sqlite3_step``, i.e. once per row then: while the sync's prefetch thread parses
the next page, each of those hand-overs can wait for a switch interval (accounts/sync/prefetch.py),
and one step per thousands of rows lets SQLite's B-tree work run on one core while the parsing
runs on the other.
"""

import sqlite3
from collections.abc import Sequence
from functools import lru_cache
from itertools import chain
from operator import itemgetter

from django.db import connections, router
from django.db.models import Model
from django.db.models.constants import OnConflict

from governance.db.fetch import column_of

MAX_ROWS_PER_STATEMENT = 4096  # a power of two (see upsert)


def upsert(
    model: type[Model],
    fields: Sequence[str],
    rows: Sequence[tuple],
    *,
    conflict: Sequence[str] = (),
    update: Sequence[str] = (),
) -> None:
    """INSERT ``rows`` (tuples in the order of ``fields``, database values) into ``model``'s table.

    ``conflict`` names the unique fields: a row that collides on them updates the ``update``
    columns instead (``bulk_create(update_conflicts=True, unique_fields=..., update_fields=...)``),
    or, without ``update``, is left out (``ignore_conflicts=True``). Without ``conflict``, a
    plain INSERT. Two rows of ``rows`` with the same ``conflict`` values: the last one wins, as
    it would row by row (PostgreSQL refuses one statement updating a row twice).

    Every column but the primary key is given, except nullable ones without a default: a column
    left out gets NULL, which for those is what ``bulk_create`` writes.

    Statements hold a power of two of rows: full ones of :func:`rows_per_statement`, then the rest
    split by its binary digits (1000 = 512 + 256 + 128 + 64 + 32 + 8). The sqlite3 module keeps
    prepared statements in a cache, and a prepared multi-row INSERT weighs hundreds of KiB: a
    handful of sizes per table keeps that cache small instead of filling it with every size seen.
    Two or more full statements go in one ``executemany`` call: Django rewrites the placeholders
    of a statement with a regular expression once per call, not once per row set.
    """
    if not rows:
        return
    connection = connections[router.db_for_write(model)]
    fields, conflict, update = tuple(fields), tuple(conflict), tuple(update)
    if conflict and update:
        rows = _last_of_each(rows, [fields.index(name) for name in conflict])
    key = (connection.alias, model, fields, conflict, update)
    per_statement = rows_per_statement(len(fields), using=connection.alias)
    full = len(rows) - len(rows) % per_statement
    with connection.cursor() as cursor:
        if full:
            params = [list(chain.from_iterable(rows[i : i + per_statement])) for i in range(0, full, per_statement)]
            if len(params) == 1:
                cursor.execute(_insert_sql(*key, per_statement), params[0])
            else:
                cursor.executemany(_insert_sql(*key, per_statement), params)
        start, size = full, per_statement
        while start < len(rows):
            size //= 2
            if len(rows) - start >= size:
                cursor.execute(_insert_sql(*key, size), list(chain.from_iterable(rows[start : start + size])))
                start += size


def _last_of_each(rows: Sequence[tuple], key_columns: list[int]) -> Sequence[tuple]:
    """``rows`` with, of any that share the key, only the last (in the place of the first)."""
    key = itemgetter(*key_columns)
    by_key = {key(row): row for row in rows}
    return rows if len(by_key) == len(rows) else list(by_key.values())


def rows_per_statement(columns: int, *, using: str = "default") -> int:
    """The largest power of two of rows within the parameter limit, at most MAX_ROWS_PER_STATEMENT.

    Django assumes 999 parameters on SQLite (the default before 3.32); the sqlite3 module of
    Python 3.11 can ask the library for its actual limit (32,766 by default since 3.32).
    """
    connection = connections[using]
    max_params = connection.features.max_query_params
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        getlimit = getattr(connection.connection, "getlimit", None)
        if getlimit is not None:
            max_params = getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    rows = min(MAX_ROWS_PER_STATEMENT, max_params // columns) if max_params else MAX_ROWS_PER_STATEMENT
    return 1 << (max(rows, 1).bit_length() - 1)


@lru_cache(maxsize=128)  # a few tables times thirteen sizes
def _insert_sql(using: str, model: type[Model], fields: tuple, conflict: tuple, update: tuple, rows: int) -> str:
    ops, meta = connections[using].ops, model._meta
    missing = [
        f.name
        for f in meta.concrete_fields
        if not f.primary_key and f.name not in fields and not (f.null and not f.has_default())
    ]
    if missing:  # such a column left out would get NULL, not the field's default
        raise ValueError(f"{meta.label}: give every column but the primary key, not {sorted(fields)}")
    columns = [column_of(model, name) for name in fields]
    # Only quoted identifiers from the model's metadata go into the text; values are parameters.
    table, names = ops.quote_name(meta.db_table), ", ".join(map(ops.quote_name, columns))
    row = f"({','.join(['%s'] * len(columns))})"  # compact: Django rewrites every %s with a regex
    sql = f"INSERT INTO {table} ({names}) VALUES {','.join([row] * rows)}"  # noqa: S608
    if update:  # bulk_create(update_conflicts=True)'s own clause
        suffix = ops.on_conflict_suffix_sql(
            [meta.get_field(name) for name in fields],
            OnConflict.UPDATE,
            [column_of(model, name) for name in update],
            [column_of(model, name) for name in conflict],
        )
        sql = f"{sql} {suffix}"
    elif conflict:
        # Not bulk_create(ignore_conflicts=True)'s: on SQLite that is INSERT OR IGNORE, which also
        # drops a row breaking NOT NULL or CHECK. This skips only a collision on ``conflict``.
        unique = ", ".join(ops.quote_name(column_of(model, name)) for name in conflict)
        sql = f"{sql} ON CONFLICT ({unique}) DO NOTHING"
    return sql


def insert_returning(
    model: type[Model], fields: Sequence[str], rows: Sequence[Sequence], *, returning: Sequence[str], max_rows: int
) -> list[tuple] | None:
    """INSERT ``rows`` (database values in the order of ``fields``), ``max_rows`` a statement at most;
    the ``returning`` columns of every row, in no particular order (SQLite does not promise
    RETURNING's), or None on a backend that cannot return rows from a multi-row INSERT.

    For the audit trail (governance/audit/record.py), whose batches take a lock and compute a
    hash chain: ``bulk_create``'s per-field, per-row preparation took more time than SQLite took
    to write the rows.
    """
    connection = connections[router.db_for_write(model)]
    ops, meta = connection.ops, model._meta
    columns = [meta.get_field(name) for name in fields]
    table = ops.quote_name(meta.db_table)
    names = ", ".join(ops.quote_name(column_of(model, name)) for name in fields)
    placeholder = "(" + ", ".join(["%s"] * len(columns)) + ")"
    can_return = connection.features.can_return_rows_from_bulk_insert
    tail = " RETURNING " + ", ".join(ops.quote_name(column_of(model, name)) for name in returning)
    size = min(max_rows, ops.bulk_batch_size(columns, rows))
    returned: list[tuple] = []
    with connection.cursor() as cursor:
        for start in range(0, len(rows), size):
            chunk = rows[start : start + size]
            # Only quoted identifiers from the model's metadata go into the text; values are parameters.
            sql = f"INSERT INTO {table} ({names}) VALUES {', '.join([placeholder] * len(chunk))}"  # noqa: S608
            params = list(chain.from_iterable(chunk))
            if can_return:
                cursor.execute(sql + tail, params)
                returned += cursor.fetchall()
            else:
                cursor.execute(sql, params)
    return returned if can_return else None
