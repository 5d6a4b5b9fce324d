"""Times, durations and counts in words (governance.text), as admins and requesters read them."""

from datetime import UTC, datetime, timedelta

import pytest

from governance.text import counts_in_words, duration_in_words, time_left_in_words

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("duration", "words"),
    [
        (timedelta(microseconds=412160), "0.4 s"),
        (timedelta(seconds=9.96), "10.0 s"),
        (timedelta(seconds=42.4), "42 s"),
        (timedelta(seconds=60), "1 min"),
        (timedelta(seconds=185), "3 min 5 s"),
        (timedelta(hours=1, minutes=4, seconds=2), "1 h 4 min"),
        (timedelta(hours=2), "2 h"),
        (None, ""),
    ],
)
def test_a_duration_reads_as_seconds_minutes_or_hours(duration, words):
    assert duration_in_words(duration) == words


@pytest.mark.parametrize(
    ("left", "words"),
    [
        (timedelta(days=13, hours=23, minutes=59), "13 days"),
        (timedelta(days=1, hours=2), "1 day"),
        (timedelta(hours=5, minutes=59), "5 hours"),
        (timedelta(hours=1), "1 hour"),
        (timedelta(minutes=59), "less than an hour"),
        (timedelta(0), "no time"),
        (timedelta(minutes=-5), "no time"),
    ],
)
def test_time_left_is_rounded_down_to_what_matters(left, words):
    assert time_left_in_words(NOW + left, NOW) == words


def test_counts_read_as_words_not_json():
    assert counts_in_words({"users": 2020, "to_act": 3}) == "users 2020, to act 3"
    assert counts_in_words({}) == "—"
