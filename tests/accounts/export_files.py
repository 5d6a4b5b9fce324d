"""The Atlassian export fixtures (tests/accounts/fixtures/), moved onto the run's clock.

The files were written as if exported on ``FIXTURE_TODAY``. An import through the admin compares
their dates with the real clock (a file dated in the future is refused, an older one loses to a
newer sync), so on another date the same bytes would mean another thing. :func:`export_file` moves
every date by the whole days between ``FIXTURE_TODAY`` and the run's date, keeping each date's
spelling: the file is always "exported yesterday".
"""

import re
from datetime import date, datetime, timedelta
from pathlib import Path

from tests.clock import SUITE_NOW

FIXTURES = Path(__file__).parent / "fixtures"
FIXTURE_TODAY = date(2025, 12, 15)  # the day after the newest date in the fixture files

_DAY_MONTH_YEAR = re.compile(rb"\b(\d{1,2}) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (\d{4})\b")
_ISO = re.compile(rb"\b(\d{4})-(\d{2})-(\d{2})\b")


def export_file(name: str, *, today: date | None = None) -> bytes:
    shift = (today or SUITE_NOW.date()) - FIXTURE_TODAY
    data = (FIXTURES / name).read_bytes()
    data = _DAY_MONTH_YEAR.sub(lambda m: _moved_day_month_year(m, shift), data)
    return _ISO.sub(lambda m: (date(*map(int, m.groups())) + shift).isoformat().encode(), data)


def _moved_day_month_year(match: re.Match, shift: timedelta) -> bytes:
    day = datetime.strptime(match.group(0).decode(), "%d %b %Y").date() + shift
    padded = len(match.group(1)) == 2  # "02 Nov 2025" stays zero-padded, "3 Jan 2022" does not
    return f"{day.day:02d} {day:%b %Y}".encode() if padded else f"{day.day} {day:%b %Y}".encode()
