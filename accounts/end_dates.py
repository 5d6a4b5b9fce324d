"""Reading an end date given as text (bulk action, API, import): one rule everywhere."""

from datetime import UTC, datetime, time

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime


def parse_end_date(value: object, *, now: datetime | None = None) -> datetime:
    """An ISO date (the access ends at the start of that day, UTC) or date-time (UTC when no zone
    is given), which must lie in the future. Raises ValueError with a message for a person."""
    if isinstance(value, datetime):
        parsed: datetime | None = value
    else:
        text = str(value).strip()
        try:
            parsed = parse_datetime(text)
            if parsed is None:
                day = parse_date(text)
                parsed = datetime.combine(day, time.min) if day else None
        except ValueError:
            parsed = None
    if parsed is None:
        raise ValueError(f"{value!r} is not a date: give YYYY-MM-DD or an ISO date-time.")
    if timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=UTC)
    if parsed <= (now or timezone.now()):
        raise ValueError("The end date (expires_at) must be in the future.")
    return parsed
