"""Reading uploads and writing export files: size and row limits, encodings, CSV dialect, XLSX.

Uploads are read here once, strictly: UTF-8 with or without a byte-order mark, anything else
refused with a message that says what to do. Problems with the file as a whole raise
:class:`UploadRefused`; problems with single rows become :class:`RowError` entries so that the
importer can list every one of them before applying anything.
"""

import codecs
import csv
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from django.conf import settings

from governance.gc_pause import collector_paused

DEFAULT_MAX_BYTES = 5 * 1024 * 1024
DEFAULT_MAX_ROWS = 100_000
_DELIMITERS = (",", ";", "\t")
# Characters openpyxl refuses in a cell (XML 1.0 forbids them); replaced, never written.
_XLSX_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_ZIP_SIGNATURE = b"PK\x03\x04"
_UTF16_SAMPLE = 4096  # bytes looked at to tell UTF-16 without a byte-order mark from a binary file


class UploadRefused(Exception):
    """The file as a whole cannot be imported (size, encoding, no header ...). Message for the uploader."""


@dataclass(frozen=True)
class RowError:
    """One problem with one row (``row`` as a spreadsheet numbers it: the header is row 1), or with
    the file as a whole when ``row`` is None."""

    row: int | None
    message: str
    column: str = ""

    def __str__(self) -> str:
        where = ", ".join(filter(None, (f"Row {self.row}" if self.row else "", self.column)))
        return f"{where}: {self.message}" if where else self.message[:1].upper() + self.message[1:]


@dataclass
class Table:
    """A parsed upload: stripped header cells, and data rows with their spreadsheet row numbers."""

    headers: list[str]
    rows: list[tuple[int, list[str]]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


def max_bytes() -> int:
    return int(getattr(settings, "IMPORT_MAX_BYTES", DEFAULT_MAX_BYTES))


def max_rows() -> int:
    return int(getattr(settings, "IMPORT_MAX_ROWS", DEFAULT_MAX_ROWS))


def megabytes(size: int) -> str:
    return f"{size / 2**20:.1f} MB"


def check_size(size: int, *, limit: int | None = None) -> None:
    limit = max_bytes() if limit is None else limit
    if size > limit:
        raise UploadRefused(
            f"The file is {megabytes(size)}; imports are limited to {megabytes(limit)} (IMPORT_MAX_BYTES). "
            "Split it into smaller files, or ask an operator to raise the limit."
        )


def decode(data: bytes) -> str:
    """UTF-8 text of an upload; a UTF-8 byte-order mark is dropped, every other encoding refused.

    The refusal names the likely cause, from the bytes: a workbook saved under a ``.csv`` name,
    UTF-16 with or without its byte-order mark, a binary file, or a legacy 8-bit encoding.
    """
    if data.startswith(_ZIP_SIGNATURE):
        raise UploadRefused(_zip_refusal(data))
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise UploadRefused(
            "The file is encoded as UTF-16 (Excel's “Unicode Text”). Save it as “CSV UTF-8 (comma delimited)” "
            "and upload it again."
        )
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    if b"\0" in data:
        if _looks_like_utf16(data):
            raise UploadRefused(
                "This file looks like UTF-16 without a byte-order mark (every other byte is a NUL). "
                "Save it as “CSV UTF-8 (comma delimited)” and upload it again."
            )
        line = data.count(b"\n", 0, data.index(b"\0")) + 1
        raise UploadRefused(f"The file holds a NUL character on line {line}: it is not a text CSV file.")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise UploadRefused(
            f"The file is not UTF-8: byte 0x{data[exc.start]:02x} on line {line} is not valid UTF-8 "
            "(the file was probably saved as Windows-1252 or Latin-1). Save it as “CSV UTF-8” and upload it again."
        ) from None


def _zip_refusal(data: bytes) -> str:
    # An XLSX (or ODS) is a ZIP archive whose member names are stored uncompressed; a workbook
    # renamed to .csv would otherwise be reported as a Windows-1252 file.
    if b"xl/" in data:
        return (
            "This file is an Excel workbook (XLSX), not a CSV file, whatever its name. The import reads CSV only: "
            "in Excel choose File → Save As → “CSV UTF-8 (comma delimited)” and upload that file."
        )
    return (
        "This file is a ZIP archive (a spreadsheet or document saved in its own format), not a CSV file. "
        "Export it as “CSV UTF-8” and upload that file."
    )


def _looks_like_utf16(data: bytes) -> bool:
    """NUL bytes at nearly every odd position (UTF-16LE) or even one (UTF-16BE), and almost none at
    the other: how mostly-ASCII text looks in UTF-16. A binary file has its NULs anywhere."""
    sample = data[: _UTF16_SAMPLE - _UTF16_SAMPLE % 2]
    pairs = len(sample) // 2
    if pairs < 2:
        return False
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    many, few = max(even, odd), min(even, odd)
    return many >= pairs * 0.6 and few <= pairs * 0.05


def _delimiter(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


@collector_paused()
def read_csv(data: bytes, *, limit_bytes: int | None = None, limit_rows: int | None = None) -> Table:
    """Parse an uploaded CSV. Raises :class:`UploadRefused`; per-row problems go to ``Table.errors``."""
    table, rows = stream_csv(data, limit_bytes=limit_bytes, limit_rows=limit_rows)
    table.rows = list(rows)
    return table


def stream_csv(
    data: bytes, *, limit_bytes: int | None = None, limit_rows: int | None = None
) -> tuple[Table, Iterator[tuple[int, list[str]]]]:
    """The file's header now (``table.rows`` stays empty), and its data rows as they are iterated.

    What :func:`read_csv` reads, without holding every row's cells at once (about 1 KB a row):
    the whole file is checked (size, encoding, header) before this returns, while the refusals
    that need the rows (too many, not valid CSV, a header but no rows) are raised by the
    iteration, and the rows' width errors go to ``table.errors`` as they are met.
    """
    check_size(len(data), limit=limit_bytes)
    limit_rows = max_rows() if limit_rows is None else limit_rows
    text = decode(data)
    delimiter = _delimiter(text[: text.find("\n")] if "\n" in text else text)
    del text  # checked: read again from the bytes, a block at a time
    # Not io.StringIO(text): iterating one stores the whole text again as 4 bytes a character (80 MB
    # for a 20 MB file). The wrapper decodes a block at a time and splits lines exactly as
    # StringIO(newline="") does (universal newlines, line endings kept for the csv module).
    body = data[len(codecs.BOM_UTF8) :] if data.startswith(codecs.BOM_UTF8) else data
    stream = io.TextIOWrapper(io.BytesIO(body), encoding="utf-8", newline="")
    reader = csv.reader(stream, delimiter=delimiter)
    try:
        table = Table(headers=_headers(next(reader, None)))
    except csv.Error as exc:
        raise UploadRefused(f"The file is not valid CSV near line {reader.line_num}: {exc}.") from None
    return table, _data_rows(reader, table, limit_rows)


def _data_rows(reader, table: Table, limit_rows: int) -> Iterator[tuple[int, list[str]]]:
    width = len(table.headers)
    count = 0
    try:
        for number, cells in enumerate(reader, start=2):
            if not cells or not any(cells):
                continue
            if count >= limit_rows:
                raise UploadRefused(
                    f"The file has more than {limit_rows:,} rows (IMPORT_MAX_ROWS). Split it into smaller files."
                )
            fitted = _fit(cells, width)
            if fitted is None:
                table.errors.append(RowError(number, f"it has {len(cells)} cells but the header names {width} columns"))
            else:
                count += 1
                yield number, fitted
    except csv.Error as exc:
        raise UploadRefused(f"The file is not valid CSV near line {reader.line_num}: {exc}.") from None
    if not count and not table.errors:
        raise UploadRefused("The file has a header but no rows.")


def _headers(header: list[str] | None) -> list[str]:
    """The column names of the header line, without trailing empty ones; refuses an empty header."""
    if not header or not any(cell.strip() for cell in header):
        raise UploadRefused("The file is empty: the first line must be a header naming the columns.")
    headers = [cell.strip() for cell in header]
    while headers and not headers[-1]:
        headers.pop()
    return headers


def _fit(cells: list[str], width: int) -> list[str] | None:
    """A row's cells padded or cut to ``width``; None when cells past the header hold something."""
    if len(cells) > width:
        return None if any(c.strip() for c in cells[width:]) else cells[:width]
    return cells + [""] * (width - len(cells)) if len(cells) < width else cells


def xlsx_bytes(header: Iterable[str], rows: Iterable[Iterable[str]], *, title: str = "Accounts") -> bytes:
    """An XLSX workbook of string cells, written row by row (openpyxl's write-only mode).

    Write-only mode keeps a few rows in memory instead of a Cell object per value, which is what
    makes an XLSX of 100,000 accounts possible in a web process at all.
    """
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title)
    sub = _XLSX_ILLEGAL.sub
    sheet.append([sub("\ufffd", cell) for cell in header])
    for row in rows:
        sheet.append([sub("\ufffd", cell) for cell in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
