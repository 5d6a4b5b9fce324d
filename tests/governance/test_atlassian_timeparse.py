"""Timestamp parsing for the formats Atlassian sends."""

import random
from datetime import UTC, datetime, timedelta

import pytest

from governance.atlassian import timeparse
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


def _instants(count: int, seed: int = 3):
    """``count`` UTC instants as Atlassian spells them: Z, no fraction or one of 1 to 9 digits."""
    rng = random.Random(seed)
    for _ in range(count):
        moment = datetime(2000, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.uniform(0, 40 * 365 * 86400))
        digits = rng.choice([0, 1, 3, 6, 7, 9])
        fraction = "".join(rng.choice("0123456789") for _ in range(digits))
        yield moment.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if digits else "") + "Z"


def test_the_fast_path_reads_every_instant_exactly_as_the_general_pattern():
    for text in _instants(5000):
        fast = timeparse._utc_instant(text)
        assert fast is not None, text
        assert fast == timeparse._parse_iso(text), text
        assert fast.tzinfo is UTC  # what the database adapters' fast path looks for


@pytest.mark.parametrize(
    "text",
    [
        "2025-W45-4T23:07:29Z",  # an ISO week date: fromisoformat reads it, the general pattern does not
        "2025-11-06T23:07:29+00:00",
        "2025-11-06 23:07:29Z",
        "2025-11-06T23:07:29,5Z",
        "2025-11-06T23:07Z",
        "2025-11-06T23:07:29.Z",
        " 2025-11-06T23:07:29Z",
        "\uff12\uff10\uff12\uff15-11-06T23:07:29Z",  # fullwidth digits: not ASCII
        "2025-02-30T00:00:00Z",
        "2025-11-06T24:00:00Z",
    ],
)
def test_other_shapes_are_left_to_the_general_pattern(text):
    assert timeparse._utc_instant(text) is None
    try:
        general = timeparse._parse_iso(text)
    except ValueError as refused:
        with pytest.raises(ValueError, match=str(refused)):
            parse_timestamp(text)
    else:
        assert parse_timestamp(text) == general
