"""Timestamp parsing for the shapes Atlassian actually sends.

``datetime.fromisoformat`` is not enough on its own: the v2 directory APIs send nanosecond
fractions (``2025-11-06T23:07:29.936941226Z``), Jira's ``X-RateLimit-Reset`` uses a short form
without seconds (``2026-08-03T10:15Z``), and v1 ``last_active`` is a bare date. Every helper
returns a timezone-aware UTC datetime; values without an offset are taken as UTC, because every
Atlassian API documents its timestamps as UTC.
"""

import re
from datetime import UTC, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

_ISO = re.compile(
    r"""^\s*
    (?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})
    (?:[Tt\ ]
        (?P<hour>\d{2}):(?P<minute>\d{2})
        (?::(?P<second>\d{2})(?:[.,](?P<fraction>\d+))?)?
    )?
    \s*(?P<offset>[Zz]|[+-]\d{2}(?::?\d{2})?)?
    \s*$""",
    re.VERBOSE,
)

_UTC_SHAPE = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?Z", re.ASCII)


def parse_timestamp(value: str) -> datetime:
    """Parse an ISO-8601 instant or date into an aware UTC datetime.

    Accepts ``Z`` or numeric offsets, fractions of any length (truncated, not rounded, to
    microseconds), times without seconds, and a date alone (midnight UTC). Raises ValueError
    on anything else.
    """
    return _utc_instant(value) or _parse_iso(value)


def _parse_iso(value: object) -> datetime:
    """:func:`parse_timestamp` by the general pattern, every accepted shape."""
    match = _ISO.match(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError("not an ISO-8601 timestamp")
    parts = match.groupdict()
    fraction = (parts["fraction"] or "")[:6].ljust(6, "0")
    try:
        moment = datetime(
            int(parts["year"]),
            int(parts["month"]),
            int(parts["day"]),
            int(parts["hour"] or 0),
            int(parts["minute"] or 0),
            int(parts["second"] or 0),
            int(fraction),
            tzinfo=_offset(parts["offset"]),
        )
    except ValueError:  # month 13, hour 25, offset +99:00 ...
        raise ValueError("not a valid ISO-8601 timestamp") from None
    return moment.astimezone(UTC)


def _utc_instant(value: object) -> datetime | None:
    """The shape nearly every timestamp comes in, ``YYYY-MM-DDTHH:MM:SS[.fraction]Z`` (ASCII digits),
    parsed by ``datetime.fromisoformat`` (in C); None for any other shape, left to ``_ISO``.

    A sync of 100,000 users parses about 360,000 of these in the thread that fetches the pages,
    holding the interpreter lock: the general pattern's groups and conversions cost about 4 µs a
    value, this 0.7 µs. The result is the general pattern's to the microsecond: the fraction is
    cut to six digits (not rounded), the time zone is UTC itself.
    """
    match = _UTC_SHAPE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        return None
    head, fraction = match.groups()
    try:  # the C parser checks the ranges (month 13, hour 25 ...)
        return datetime.fromisoformat(f"{head}.{(fraction or '')[:6].ljust(6, '0')}+00:00")
    except ValueError:
        return None


def parse_date(value: str) -> datetime:
    """Parse a date-only ``yyyy-MM-dd`` value into midnight UTC of that day."""
    if not isinstance(value, str) or not re.fullmatch(r"\s*\d{4}-\d{2}-\d{2}\s*", value):
        raise ValueError("not an ISO-8601 date")
    return parse_timestamp(value)


def parse_optional_timestamp(value: object) -> datetime | None:
    """Like :func:`parse_timestamp`, but None and empty strings give None."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError("timestamp is not a string")
    return parse_timestamp(value)


def parse_http_date(value: str) -> datetime:
    """Parse an RFC 9110 HTTP date (as in ``Retry-After``) into an aware UTC datetime."""
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError) as exc:
        raise ValueError("not an HTTP date") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _offset(text: str | None) -> timezone:
    if text is None or text in ("Z", "z"):
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
    if hours > 23 or minutes > 59:
        raise ValueError("offset out of range")
    return timezone(sign * timedelta(hours=hours, minutes=minutes))
