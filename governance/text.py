"""Times, durations and counts in the words an admin or a requester reads, not Python's reprs
(``0:00:00.412160``, ``13 days, 23 hours``, ``{"to_act": 3}``)."""

from collections.abc import Mapping
from datetime import datetime, timedelta


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def duration_in_words(duration: timedelta | None) -> str:
    """``0.4 s``, ``42 s``, ``3 min 5 s``, ``1 h 4 min``; empty when there is none (still running)."""
    if duration is None:
        return ""
    seconds = duration.total_seconds()
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def time_left_in_words(until: datetime, now: datetime) -> str:
    """How long until ``until``, rounded down to what matters: ``13 days``, ``5 hours``, ``less than
    an hour``; ``no time`` once it has passed."""
    left = until - now
    if left <= timedelta(0):
        return "no time"
    if left >= timedelta(days=1):
        return plural(left.days, "day")
    hours = int(left.total_seconds() // 3600)
    return plural(hours, "hour") if hours else "less than an hour"


def counts_in_words(counts: Mapping[str, object]) -> str:
    """``{"users": 2020, "to_act": 3}`` as ``users 2020, to act 3``; ``—`` when empty."""
    return ", ".join(f"{key.replace('_', ' ')} {value}" for key, value in counts.items()) or "—"
