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
TREND_WIDTH, TREND_HEIGHT = 600, 140


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    percent: float
    url: str = ""
    detail: str = ""


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
    bars = []
    for product in Product.objects.order_by("name", "key"):
        used, total = product.seats_used or 0, product.seats_total
        detail = f"{used:,} of {total:,} seats" if total else f"{used:,} seats (no limit reported)"
        bars.append(Bar(str(product), used, _percent(used, total or used), _accounts_url(product=product.pk), detail))
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


def dashboard_context(*, now: datetime) -> dict[str, Any]:
    return {
        "status_bars": status_bars(),
        "inactivity_bars": inactivity_bars(now),
        "seat_bars": seat_bars(),
        "trend": trend(timezone.localdate(now)),
        "trend_width": TREND_WIDTH,
        "trend_height": TREND_HEIGHT,
        "trend_days": TREND_DAYS,
    }
