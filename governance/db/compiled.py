"""A queryset's own SQL, run without the ORM's per-row work (Django's private SQL compiler).

Filters, annotations and ordering stay the ORM's: only the converters (and, for
:func:`fetch_driver_rows`, the chunked fetch) are left out, because at 100,000 rows they cost
more than reading the rows. The rows are what the database driver returns: on the portal's two
databases that is the ORM's values except SQLite's datetimes, which come naive (see
:func:`governance.db.datetimes.aware_datetimes`), and SQLite's booleans, which come as 0/1.
``SQLCompiler.execute_sql``, ``select``, ``col_count`` and ``get_converters`` are not public
API: tests/governance/test_db_bypasses.py checks them against the ORM on both databases.
"""

from collections.abc import Iterator
from itertools import chain
from typing import Any

from django.db import connections
from django.db.models import QuerySet
from django.db.models.sql.constants import MULTI


def driver_rows(queryset: QuerySet[Any, Any]) -> Iterator[Any]:
    """The rows of a ``values_list`` queryset as the driver returns them, fetched in the ORM's chunks."""
    return chain.from_iterable(queryset.query.get_compiler(using=queryset.db).execute_sql(MULTI))


def fetch_driver_rows(queryset) -> list[tuple]:
    """All the rows of a ``values_list`` queryset as the driver returns them, with one ``fetchall``."""
    sql, params = queryset.query.sql_with_params()
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def unconverted_rows(values, chunk_size: int):
    """Run a values_list() queryset as ``QuerySet.iterator(chunk_size)`` does, converters left out.

    Returns the rows (an iterator of tuples, as the driver gives them), the ORM's converters by
    column index (``{index: ([converter, ...], expression)}``), and the SQL compiler. Reads are
    chunked exactly as ``iterator()`` chunks them: a server-side cursor on PostgreSQL unless
    ``DISABLE_SERVER_SIDE_CURSORS``, ``fetchmany(chunk_size)`` on SQLite.
    """
    compiler = values.query.get_compiler(using=values.db)
    chunked_fetch = not connections[values.db].settings_dict.get("DISABLE_SERVER_SIDE_CURSORS")
    chunks = compiler.execute_sql(MULTI, chunked_fetch=chunked_fetch, chunk_size=chunk_size)
    # As SQLCompiler.results_iter(): compiler.select is known once execute_sql() built the SQL.
    converters = compiler.get_converters([s[0] for s in compiler.select[: compiler.col_count]])
    return chain.from_iterable(chunks), converters, compiler
