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


def kept_end_reason(*, group: object, ends_at: datetime | None, wanted: datetime | None) -> str | None:
    """Why giving access to ``group`` until ``wanted`` leaves someone already in it as they are, or
    None when their access should now last until ``wanted``. An add never shortens access: a
    membership with no end (``ends_at`` None) or ending at ``wanted`` or later stays as it is; one
    ending earlier moves to ``wanted``. The one decision of the bulk "Add to group" and the import's
    ``expires_at``, for the people already in the group."""
    if wanted is None:
        return f"already a member of {group}"
    if ends_at is None:
        return f"already a member of {group} with no end date: left open-ended (an add never shortens access)"
    if ends_at >= wanted:
        return f"already a member of {group} until {ends_at:%Y-%m-%d %H:%M} UTC: left as it is"
    return None
