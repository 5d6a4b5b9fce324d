"""``field IN (...)`` lookups answered as database values, for the sync's batches of thousands of keys."""

import json
from collections.abc import Iterator, Sequence
from typing import Any, cast

from django.db import connection
from django.db.models import Field, Model

IN_CHUNK = 500  # values per ``__in`` lookup: SQLite before 3.32 allows 999 parameters a statement


def in_chunks(values: Sequence, size: int = IN_CHUNK) -> Iterator[Sequence]:
    """``values`` in slices small enough for one ``field__in=`` lookup (none when empty)."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def column_of(model: type[Model], name: str) -> str:
    """The column of ``model``'s concrete field ``name`` (for the type checker: ``get_field`` may
    also answer a reverse relation, and a field's ``column`` is None unless it is concrete)."""
    field = cast("Field[Any, Any]", model._meta.get_field(name))
    assert field.column is not None
    return field.column


def pks_by(model: type[Model], field: str, values: Sequence, **equal) -> dict:
    """``{value: pk}`` for the rows of ``model`` whose ``field`` is one of ``values`` and whose other
    fields equal ``equal``: ``filter(field__in=...).values_list(field, "pk")``, see :func:`fetch_rows`."""
    return dict(fetch_rows(model, (field, model._meta.pk.name), field, values, **equal))


def fetch_rows(
    model: type[Model], fields: Sequence[str], field: str, values: Sequence, *, lock: bool = False, **equal
) -> list[Any]:
    """``fields`` of the rows of ``model`` whose ``field`` is one of ``values`` and whose other
    fields equal ``equal``, as database values (a datetime is its stored text on SQLite).

    ``lock``: the rows are locked until the transaction ends, as ``select_for_update(no_key=True)``
    locks them (``FOR NO KEY UPDATE`` on PostgreSQL; SQLite's write lock covers the whole database).

    ``filter(field__in=values, **equal).values_list(*fields)`` without the ORM's work on every
    value, IN_CHUNK values a query. On SQLite each query answers one row, the JSON array of the
    matching rows: the sqlite3 module releases the GIL around the step of every row it fetches,
    and while the sync's prefetch thread is parsing, each of those hand-overs can cost a switch
    interval.
    """
    ops, meta = connection.ops, model._meta
    # Only quoted identifiers from the model's metadata go into the text; values are parameters.
    columns = ", ".join(ops.quote_name(column_of(model, name)) for name in fields)
    table, column = ops.quote_name(meta.db_table), ops.quote_name(column_of(model, field))
    where = "".join(f" AND {ops.quote_name(column_of(model, name))} = %s" for name in equal)
    as_json = connection.vendor == "sqlite"
    selected = f"json_group_array(json_array({columns}))" if as_json else columns
    head = f"SELECT {selected} FROM {table} WHERE 1 = 1{where}"  # noqa: S608
    tail = ""
    if lock and connection.features.has_select_for_update:
        tail = " " + ops.for_update_sql(no_key=connection.features.has_select_for_no_key_update)
    rows: list[Sequence] = []
    with connection.cursor() as cursor:
        for chunk in in_chunks(values):
            cursor.execute(
                f"{head} AND {column} IN ({', '.join(['%s'] * len(chunk))}){tail}", [*equal.values(), *chunk]
            )
            if as_json:
                rows.extend(json.loads(cursor.fetchone()[0]))  # lists, not tuples: unpacked alike
            else:
                rows.extend(cursor.fetchall())
    return rows


def fetch_grouped(model: type[Model], field: str, values: Sequence, collected: str) -> dict[Any, list]:
    """``{value: [the collected field of each of its rows]}`` for the rows of ``model`` whose
    ``field`` is one of ``values`` (those with no row are left out), IN_CHUNK values a query.

    The database groups the rows (``GROUP BY``, along an index leading with ``field``): Python
    gets one entry per value instead of one tuple per row, which for the sync's memberships is
    ten times fewer objects. On SQLite the lists come as JSON, all of a query's in one text (see
    :func:`fetch_rows`); on PostgreSQL as arrays, which the driver turns into lists.
    """
    ops, meta = connection.ops, model._meta
    # Only quoted identifiers from the model's metadata go into the text; values are parameters.
    table, key = ops.quote_name(meta.db_table), ops.quote_name(column_of(model, field))
    item = ops.quote_name(column_of(model, collected))
    as_json = connection.vendor == "sqlite"
    select = (
        f"SELECT json_group_array(json_array(k, json(v))) FROM (SELECT {key} AS k, json_group_array({item}) AS v"  # noqa: S608
        if as_json
        else f"SELECT {key}, array_agg({item})"
    )
    grouped: dict[Any, list] = {}
    with connection.cursor() as cursor:
        for chunk in in_chunks(values):
            sql = f"{select} FROM {table} WHERE {key} IN ({', '.join(['%s'] * len(chunk))}) GROUP BY {key}"
            cursor.execute(f"{sql})" if as_json else sql, list(chunk))
            grouped.update(json.loads(cursor.fetchone()[0]) if as_json else cursor.fetchall())
    return grouped
