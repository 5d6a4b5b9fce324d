"""Timestamp parsing for the formats Atlassian sends."""

from datetime import UTC, datetime

import pytest

from governance.atlassian.timeparse import parse_date, parse_http_date, parse_optional_timestamp, parse_timestamp


def test_it_truncates_nanosecond_fractions_to_microseconds():
    assert parse_timestamp("2025-11-06T23:07:29.936941226Z") == datetime(2025, 11, 6, 23, 7, 29, 936941, tzinfo=UTC)


def test_it_pads_short_fractions():
    assert parse_timestamp("2026-08-03T10:15:00.5Z").microsecond == 500000


def test_it_reads_the_short_rate_limit_reset_form_without_seconds():
    assert parse_timestamp("2026-08-03T10:15Z") == datetime(2026, 8, 3, 10, 15, tzinfo=UTC)


def test_it_converts_numeric_offsets_to_utc():
    assert parse_timestamp("2026-08-03T12:15:00+02:00") == datetime(2026, 8, 3, 10, 15, tzinfo=UTC)
    assert parse_timestamp("2026-08-03T05:15:00-0500") == datetime(2026, 8, 3, 10, 15, tzinfo=UTC)


def test_it_takes_a_timestamp_without_offset_as_utc():
    parsed = parse_timestamp("2026-08-03T10:15:00")
    assert parsed == datetime(2026, 8, 3, 10, 15, tzinfo=UTC)
    assert parsed.tzinfo is UTC


def test_a_date_alone_is_midnight_utc():
    assert parse_timestamp("2026-08-03") == datetime(2026, 8, 3, tzinfo=UTC)
    assert parse_date("2026-08-03") == datetime(2026, 8, 3, tzinfo=UTC)


def test_parse_date_refuses_a_timestamp():
    with pytest.raises(ValueError, match="date"):
        parse_date("2026-08-03T10:00:00Z")


@pytest.mark.parametrize(
    "text", ["", "yesterday", "2026-13-01", "2026-08-03T25:00Z", "2026-08-03T10:00+99:00", "1722680000"]
)
def test_it_rejects_what_is_not_iso_8601(text):
    with pytest.raises(ValueError, match="ISO-8601"):
        parse_timestamp(text)


def test_optional_timestamps_treat_none_and_blank_as_missing():
    assert parse_optional_timestamp(None) is None
    assert parse_optional_timestamp("") is None
    with pytest.raises(ValueError, match="not a string"):
        parse_optional_timestamp(1722680000)


def test_it_parses_http_dates_for_retry_after():
    assert parse_http_date("Mon, 03 Aug 2026 10:00:30 GMT") == datetime(2026, 8, 3, 10, 0, 30, tzinfo=UTC)
    with pytest.raises(ValueError, match="HTTP date"):
        parse_http_date("soon")
