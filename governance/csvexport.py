"""Streaming, formula-safe CSV for every download the portal offers."""

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from django.http import StreamingHttpResponse

# A cell starting with one of these is run as a formula by spreadsheet programs
# (CWE-1236, OWASP CSV injection). NUL is included because some programs skip it.
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\0")
# Every prefix is one character, so "starts with a prefix" is "first character in this set",
# which is cheaper than str.startswith(tuple) on the hot path (16 cells per audit row).
_FORMULA_FIRST_CHARS = frozenset(_FORMULA_PREFIXES)
FORMULA_FIRST_CHARS = _FORMULA_FIRST_CHARS  # for a download's own fast path (accounts' export)


def safe_cell(value) -> str:
    """Render a value for CSV, prefixing a quote to anything a spreadsheet would evaluate."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    if text[:1] in _FORMULA_FIRST_CHARS:
        return "'" + text
    return text


def csv_record(cells: Iterable[str]) -> str:
    """One CSV line for string cells, exactly as ``csv.writer`` (excel dialect) writes it.

    That is: ``,`` between cells, ``\\r\\n`` at the end, and a cell holding ``"``, ``,``, CR or
    LF wrapped in double quotes with its quotes doubled (QUOTE_MINIMAL); a line whose only cell
    is empty is written ``""``. The csv module tests each character of each cell in C against
    the delimiter, the quote and the line terminator, which costs more than the four substring
    searches per cell here (about 7 µs against 2 µs for an audit row).
    """
    quoted = [
        '"' + cell.replace('"', '""') + '"' if ('"' in cell or "," in cell or "\n" in cell or "\r" in cell) else cell
        for cell in cells
    ]
    if len(quoted) == 1 and not quoted[0]:
        return '""\r\n'
    return ",".join(quoted) + "\r\n"


def safe_record(values: Iterable) -> str:
    """``csv_record(map(safe_cell, values))``, in one pass over the cells: the hot path of a download.

    Each cell is sanitised as :func:`safe_cell` does it, then quoted as :func:`csv_record` does it.
    A plain ``str`` (nearly every cell) is sanitised inline; anything else (None, numbers, str
    subclasses) goes through :func:`safe_cell` itself. One list and no call per cell instead of a
    ``map`` and a call per cell saves about a fifth of the CSV work (0.7 µs per audit row).
    """
    quoted = [
        '"' + text.replace('"', '""') + '"' if ('"' in text or "," in text or "\n" in text or "\r" in text) else text
        for value in values
        for text in [
            ("'" + value if value[:1] in _FORMULA_FIRST_CHARS else value)
            if value.__class__ is str
            else safe_cell(value)
        ]
    ]
    if len(quoted) == 1 and not quoted[0]:
        return '""\r\n'
    return ",".join(quoted) + "\r\n"


def csv_lines(header: Iterable[str], rows: Iterable[Iterable]) -> Iterator[str]:
    yield safe_record(header)
    for row in rows:
        yield safe_record(row)


def csv_batched_lines(
    header: Iterable[str],
    rows: Iterable[Iterable],
    *,
    batch: int = 500,
    record: Callable[[Any], str] = safe_record,
) -> Iterator[str]:
    """Like :func:`csv_lines` but joins ``batch`` lines per chunk: far fewer writes to the socket.

    ``record`` writes one row's line; a download that knows its rows may pass a faster function
    that returns exactly what :func:`safe_record` returns (the header always goes through
    :func:`safe_record`).
    """
    pending = [safe_record(header)]
    for row in rows:
        pending.append(record(row))
        if len(pending) >= batch:
            yield "".join(pending)
            pending.clear()
    if pending:
        yield "".join(pending)


def streaming_csv_response(
    filename: str,
    header: Iterable[str],
    rows: Iterable[Iterable],
    *,
    record: Callable[[Any], str] = safe_record,
) -> StreamingHttpResponse:
    response = StreamingHttpResponse(
        csv_batched_lines(header, rows, record=record), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "no-store"
    return response
