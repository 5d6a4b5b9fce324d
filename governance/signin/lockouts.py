"""How many recent failed sign-ins a username and an address have, and whether that locks them out.

A username may fail ``PORTAL_LOGIN_FAILURE_LIMIT`` times and an address
``PORTAL_LOGIN_FAILURE_LIMIT_PER_IP`` times within ``PORTAL_LOGIN_LOCKOUT_MINUTES`` of their last
failure (django-axes keeps one AccessAttempt row per username, address and browser, with its
failure count and the time of its last failure; a row stops counting that long after it).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone


def lockout_time() -> timedelta:
    return timedelta(minutes=settings.PORTAL_LOGIN_LOCKOUT_MINUTES)


def axes_cooloff(request=None) -> timedelta:
    """``AXES_COOLOFF_TIME``: axes expires attempt rows after the same time this module counts them."""
    return lockout_time()


def recent_attempts(now: datetime | None = None) -> QuerySet:
    """The attempt rows that still count: their last failure is within the lockout time."""
    return AccessAttempt.objects.filter(attempt_time__gte=(now or timezone.now()) - lockout_time())


@dataclass(frozen=True)
class Failures:
    """Recent failures of one sign-in's username and of its address."""

    by_username: int
    by_address: int

    @property
    def username_locked(self) -> bool:
        return self.by_username >= settings.PORTAL_LOGIN_FAILURE_LIMIT

    @property
    def address_locked(self) -> bool:
        return self.by_address >= settings.PORTAL_LOGIN_FAILURE_LIMIT_PER_IP

    @property
    def locked(self) -> bool:
        return self.username_locked or self.address_locked

    def for_axes(self) -> int:
        """One figure for django-axes, which compares a single count with ``AXES_FAILURE_LIMIT``.

        Each count is shifted by the distance between its own limit and axes' limit, so the figure
        reaches ``AXES_FAILURE_LIMIT`` exactly when the username or the address reaches its own limit.
        """
        axes_limit = settings.AXES_FAILURE_LIMIT
        return max(
            self.by_username - settings.PORTAL_LOGIN_FAILURE_LIMIT + axes_limit,
            self.by_address - settings.PORTAL_LOGIN_FAILURE_LIMIT_PER_IP + axes_limit,
        )


def failures(*, username: str | None, ip_address: str | None, now: datetime | None = None) -> Failures:
    """The recent failures of ``username`` (from any address) and of ``ip_address`` (for any username)."""
    by_username, by_address = Q(username=username), Q(ip_address=ip_address)
    totals = (
        recent_attempts(now)
        .filter(by_username | by_address)
        .aggregate(
            by_username=Sum("failures_since_start", filter=by_username),
            by_address=Sum("failures_since_start", filter=by_address),
        )
    )
    return Failures(by_username=totals["by_username"] or 0, by_address=totals["by_address"] or 0)


def with_failures(queryset: QuerySet, now: datetime | None = None) -> QuerySet:
    """AccessAttempt rows annotated with ``username_failures`` and ``address_failures`` (the recent
    failures of the row's username and of its address, across all rows), for the admin list."""
    recent = recent_attempts(now)

    def total(field: str) -> Coalesce:
        rows = recent.filter(**{field: OuterRef(field)}).order_by().values(field)
        return Coalesce(Subquery(rows.annotate(n=Sum("failures_since_start")).values("n")[:1]), 0)

    return queryset.annotate(username_failures=total("username"), address_failures=total("ip_address"))
