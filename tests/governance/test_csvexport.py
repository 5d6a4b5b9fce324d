"""The CSV writer shared by the downloads: formula-safe cells, quoted exactly as csv.writer quotes."""

import csv
import io
from decimal import Decimal

import pytest
from django.utils.safestring import mark_safe

from governance.audit.models import AuditAction
from governance.csvexport import csv_batched_lines, csv_lines, csv_record, safe_cell, safe_record

TRICKY = [
    None,
    "",
    "plain",
    0,
    -1,
    12345678901234567890,
    1.5,
    Decimal("-2.50"),
    True,
    "=SUM(A1:A2)",
    "+44 20",
    "-Ann-Marie",
    "@ops-bot",
    "\tindented",
    "\rcarriage",
    "\0nul",
    "'already quoted",
    'say "hi"',
    "a,b",
    "line\nbreak",
    "line\r\nbreak",
    '=HYPERLINK("http://evil", "x,y")',
    '{"status": "active", "products": ["jira", "confluence"]}',
    "Müller — “quoted”",
    " leading space",
    mark_safe("=safe string subclass"),
    AuditAction.ACCOUNT_SUSPENDED,  # a str subclass (TextChoices)
]


def _csv_writer_line(cells) -> str:
    out = io.StringIO()
    csv.writer(out).writerow(cells)
    return out.getvalue()


@pytest.mark.parametrize("value", TRICKY, ids=repr)
def test_one_cell_is_sanitised_and_quoted_like_the_reference(value):
    expected = _csv_writer_line([safe_cell(value)])
    assert csv_record([safe_cell(value)]) == expected
    assert safe_record([value]) == expected
    assert safe_record(["x", value, "y"]) == _csv_writer_line(["x", safe_cell(value), "y"])


def test_a_whole_row_of_tricky_values():
    assert safe_record(TRICKY) == csv_record(map(safe_cell, TRICKY)) == _csv_writer_line(map(safe_cell, TRICKY))


def test_formula_prefixes_get_a_leading_quote():
    for prefix in ("=", "+", "-", "@", "\t", "\r", "\0"):
        assert safe_record([f"{prefix}1+1", "ok"]).startswith(("'" + prefix, "\"'" + prefix))
    assert safe_record([-5]) == "'-5\r\n"


def test_empty_rows_are_spelled_as_csv_writer_spells_them():
    assert safe_record([""]) == safe_record([None]) == '""\r\n' == _csv_writer_line([""])
    assert safe_record([]) == "\r\n" == _csv_writer_line([])
    assert safe_record(["", ""]) == ",\r\n" == _csv_writer_line(["", ""])


def test_rows_may_be_any_iterable():
    assert safe_record(iter(["=a", 1, None])) == safe_record(("=a", 1, None)) == "'=a,1,\r\n"


def test_batched_lines_are_the_lines_joined_in_chunks():
    header = ("seq", "=name")
    rows = [(i, f"=n{i}" if i % 3 else f"n,{i}") for i in range(1, 12)]
    chunks = list(csv_batched_lines(header, rows, batch=5))
    assert "".join(chunks) == "".join(csv_lines(header, rows))
    assert [chunk.count("\r\n") for chunk in chunks] == [5, 5, 2]  # the header counts in the first
    assert chunks[0].startswith("seq,'=name\r\n1,'=n1\r\n")
    assert list(csv.reader(io.StringIO("".join(chunks))))[1:] == [[safe_cell(a), safe_cell(b)] for a, b in rows]


def test_no_rows_still_gives_the_header():
    assert list(csv_batched_lines(("a", "b"), [])) == ["a,b\r\n"]
