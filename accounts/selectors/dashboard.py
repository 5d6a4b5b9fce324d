"""Numbers and bar geometry for the admin index dashboard (templates/admin/index.html).

Server-rendered inline SVG: this module computes the bars, the template only draws them. Four
queries whatever the size of the organization.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.db.models import Count, Sum
from django.urls import reverse
from django.utils import timezone

from accounts.filtersets import INACTIVITY_BUCKETS, inactivity_q
from accounts.models import Account, AccountStatus, ActivitySnapshot, Product

TREND_DAYS = 30
# The plot's size in SVG units, about the pixels it is drawn at in its dashboard module, so the
# axes' 10-unit labels read at about 10 px.
TREND_WIDTH, TREND_HEIGHT = 300, 110
# Room around the plot for the axes' labels: counts on the left, dates underneath.
TREND_LEFT, TREND_TOP, TREND_BOTTOM = 36, 6, 18


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    percent: float
    url: str = ""
    detail: str = ""
    # A seat bar of a product with a seat limit; without one there is nothing to fill (no bar).
    limited: bool = True


@dataclass(frozen=True)
class Tick:
    label: str
    at: float  # x for a date under the chart, y for a count beside it
    anchor: str = "middle"  # SVG text-anchor: the chart's last date ends at its right edge


@dataclass(frozen=True)
class TrendDay:
    date: object
    active: int
    inactive: int
    x: float
    width: float
    active_y: float
    active_height: float
    inactive_y: float
    inactive_height: float


def _percent(value: int, whole: int) -> float:
    return round(100.0 * value / whole, 1) if whole else 0.0


def _accounts_url(**params: object) -> str:
    return reverse("admin:accounts_account_changelist") + "?" + urlencode(params)


def status_bars() -> list[Bar]:
    counts = dict(Account.objects.order_by().values_list("status").annotate(n=Count("pk")))
    top = max(counts.values(), default=0)
    return [
        Bar(label, counts.get(value, 0), _percent(counts.get(value, 0), top), _accounts_url(status=value))
        for value, label in AccountStatus.choices
        if counts.get(value)
    ]


def inactivity_bars(now: datetime) -> list[Bar]:
    """Accounts that are active in Atlassian (so hold their access), by when they last used it."""
    totals = Account.objects.filter(status=AccountStatus.ACTIVE).aggregate(
        **{value: Count("pk", filter=inactivity_q(value, now)) for value, _label, _days in INACTIVITY_BUCKETS}
    )
    top = max(totals.values(), default=0)
    return [
        Bar(label, totals[value], _percent(totals[value], top), _accounts_url(status="active", inactivity=value))
        for value, label, _days in INACTIVITY_BUCKETS
    ]


def seat_bars() -> list[Bar]:
    """Seats used against each product's limit. A product Atlassian reports no limit for gets no
    bar (a full red one would say it is out of seats): only its count, and that it has no limit."""
    bars = []
    for product in Product.objects.order_by("name", "key"):
        used, total = product.seats_used or 0, product.seats_total
        url = _accounts_url(product=product.pk)
        if total:
            bars.append(Bar(str(product), used, _percent(used, total), url, f"{used:,} of {total:,} seats"))
        else:
            bars.append(Bar(str(product), used, 0.0, url, f"{used:,} seats, no limit reported", limited=False))
    return bars


def trend(today: date, *, days: int = TREND_DAYS) -> list[TrendDay]:
    """Active (last 30 days) vs inactive accounts per day from the sync snapshots, as stacked bars
    on a time axis of ``days`` slots (a day without a successful sync leaves a gap)."""
    first_day = today - timedelta(days=days - 1)
    rows = list(
        ActivitySnapshot.objects.filter(date__gte=first_day, date__lte=today)
        .values("date")
        .annotate(active=Sum("active_30d"), inactive=Sum("inactive"))
        .order_by("date")
    )
    top = max((r["active"] + r["inactive"] for r in rows), default=0) or 1
    slot = TREND_WIDTH / days
    result = []
    for row in rows:
        active_h = TREND_HEIGHT * row["active"] / top
        inactive_h = TREND_HEIGHT * row["inactive"] / top
        result.append(
            TrendDay(
                date=row["date"],
                active=row["active"],
                inactive=row["inactive"],
                x=round((row["date"] - first_day).days * slot + slot * 0.1, 1),
                width=round(slot * 0.8, 1),
                active_y=round(TREND_HEIGHT - active_h, 1),
                active_height=round(active_h, 1),
                inactive_y=round(TREND_HEIGHT - active_h - inactive_h, 1),
                inactive_height=round(inactive_h, 1),
            )
        )
    return result


def trend_axes(days: list[TrendDay], today: date, *, span: int = TREND_DAYS) -> dict[str, list[Tick]]:
    """The trend chart's axes: counts at 0, half and the top (y), and dates under the chart (x):
    the first day, each week after it, and today, so one sync day still reads as a date."""
    top = max((d.active + d.inactive for d in days), default=0)
    y_ticks: list[Tick] = []
    if top:
        y_ticks = [Tick(f"{value:,}", round(TREND_HEIGHT - TREND_HEIGHT * value / top, 1)) for value in (top, top // 2)]
        y_ticks.append(Tick("0", float(TREND_HEIGHT)))
    first_day = today - timedelta(days=span - 1)
    slot = TREND_WIDTH / span
    # Weekly dates from the first day, and today last (instead of a weekly date too close to it).
    offsets = [offset for offset in range(0, span, 7) if span - 1 - offset >= 4] + [span - 1]
    x_ticks = [
        Tick(f"{first_day + timedelta(days=offset):%d %b}", round(offset * slot + slot / 2, 1)) for offset in offsets
    ]
    x_ticks[-1] = Tick(x_ticks[-1].label, float(TREND_WIDTH), anchor="end")
    return {"y_ticks": y_ticks, "x_ticks": x_ticks}


def dashboard_context(*, now: datetime) -> dict[str, Any]:
    today = timezone.localdate(now)
    days = trend(today)
    return {
        "status_bars": status_bars(),
        "inactivity_bars": inactivity_bars(now),
        "seat_bars": seat_bars(),
        "trend": days,
        "trend_axes": trend_axes(days, today),
        "trend_width": TREND_WIDTH,
        "trend_height": TREND_HEIGHT,
        "trend_box": (TREND_LEFT + TREND_WIDTH + 8, TREND_TOP + TREND_HEIGHT + TREND_BOTTOM),
        "trend_origin": (TREND_LEFT, TREND_TOP),
        "trend_days": TREND_DAYS,
    }
