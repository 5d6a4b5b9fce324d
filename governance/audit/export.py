"""The auditor's CSV of the audit log: streamed, formula-safe, ISO-8601 UTC."""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Expression, TextField
from django.db.models.functions import Cast

from governance.audit.chain import iso_utc
from governance.db.compiled import unconverted_rows

CSV_HEADER = (
    "seq",
    "created_at",
    "actor_kind",
    "actor_name",
    "action",
    "target_type",
    "target_id",
    "target_repr",
    "organization",
    "reason",
    "correlation_id",
    "client_ip",
    "before",
    "after",
    "prev_hash",
    "hash",
)

# The retention archive (governance.audit.archive) adds the one hashed field the auditor's file
# leaves out, so every event of an archive can be re-hashed from the file alone.
ARCHIVE_HEADER = (*CSV_HEADER, "actor_user_id")


def _columns(header: tuple[str, ...]) -> tuple[str, ...]:
    """The values_list() names behind a header: the JSON columns are read as text (annotations)."""
    if header[:2] != ("seq", "created_at"):
        raise ValueError("an audit CSV starts with seq, created_at")
    return tuple({"before": "before_text", "after": "after_text"}.get(name, name) for name in header)


_CREATED_AT = 1  # _columns() makes sure of it


def audit_rows(queryset, *, chunk_size: int = 2000, header: tuple[str, ...] = CSV_HEADER):
    """Rows for CSV from a (filtered) AuditEvent queryset, fetched in chunks, one value per ``header`` column.

    JSON columns are read as text (no decode and re-encode per row); the queryset's own
    ordering is replaced by ``seq`` so the file reads in chain order.

    The queryset's own SQL is run through its compiler, so every filter of the admin (date range,
    actor kind, action, target type, search) applies unchanged. Only the ORM's per-row converters
    are left out: the one converter of these columns, ``created_at``'s (on SQLite it makes the
    naive datetime the driver parsed aware), cost more per row than anything but the fetch.
    :class:`_CreatedAtCells` runs that same converter, and the formatting, only when the value
    differs from the previous row's.
    """
    values = (
        queryset.order_by("seq")
        .annotate(before_text=Cast("before", TextField()), after_text=Cast("after", TextField()))
        .values_list(*_columns(header))
    )
    rows, converters, compiler = unconverted_rows(values, chunk_size)
    created_at = _CreatedAtCells(converters.pop(_CREATED_AT, None), compiler.connection)
    if converters:  # a backend that converts other columns too: let the ORM do those, per row
        rows = compiler.apply_converters(rows, converters)
    time_cell = created_at.cell
    for row in rows:
        yield (row[0], time_cell(row[1]), *row[2:])


class _CreatedAtCells:
    """``created_at`` as the CSV spells it, from the value the database driver returned.

    The value goes through the ORM's own converters for the column, exactly as the ORM would
    apply them (SQLite: the driver returns a naive datetime, parsed from the text Django stored
    in UTC, and the converter makes it aware; PostgreSQL: none, psycopg returns aware
    datetimes), then through :func:`_csv_time`.

    Events recorded together share one timestamp (``record_events`` gives a whole batch the same
    ``created_at``) and the file is in ``seq`` order, so the last cell is reused while the raw
    value stays the same. "The same" is ``==`` plus an equal ``fold``: between two datetimes of
    one zone ``==`` ignores ``fold``, so the two 02:30s of the night the clocks go back would
    compare equal although they are an hour apart. Equal in every other case means the same
    instant, which always spells the same UTC time.
    """

    def __init__(self, converters: tuple[list[Callable[..., Any]], Expression] | None, connection: BaseDatabaseWrapper):
        self.converters: list[Callable[..., Any]]
        self.expression: Expression | None
        self.converters, self.expression = converters or ([], None)
        self.connection = connection
        self.last_raw: Any = None
        self.last_fold: int | None = None
        self.last_cell: str | None = None

    def cell(self, raw) -> str:
        fold = getattr(raw, "fold", None)
        if self.last_cell is None or raw != self.last_raw or fold != self.last_fold:
            value = raw
            for convert in self.converters:
                value = convert(value, self.expression, self.connection)
            self.last_raw, self.last_fold, self.last_cell = raw, fold, _csv_time(value)
        return self.last_cell


def _csv_time(value: datetime) -> str:
    """``iso_utc(value)``, computed faster for what the database returns: aware UTC datetimes.

    ``isoformat`` spells such a value ``YYYY-MM-DDTHH:MM:SS.ffffff+00:00`` in half the time of
    ``astimezone`` + ``strftime``. Any other zone, and years before 1000 (which ``strftime``
    does not pad to four digits), take the reference path.
    """
    if value.tzinfo is UTC and value.year >= 1000:
        return value.isoformat(timespec="microseconds")[:-6] + "Z"
    return iso_utc(value)
