"""Reads about access given until a date: what is due, what to warn about, what ends soon."""

from datetime import datetime, timedelta

from django.db.models import Min, OuterRef, QuerySet, Subquery

from accounts.models import AccessEndStatus, Account, MembershipEnd

# Warnings go this many days ahead (the larger first); a late start sends only the nearest one.
WARNING_DAYS = (7, 1)


def ends_due(now: datetime) -> QuerySet[MembershipEnd]:
    """Scheduled ends whose date has come (and removals a dead worker left half-way)."""
    return MembershipEnd.objects.filter(
        status__in=(AccessEndStatus.SCHEDULED, AccessEndStatus.REMOVING), expires_at__lte=now
    ).order_by("expires_at", "pk")


def ends_to_warn(now: datetime) -> QuerySet[MembershipEnd]:
    """Scheduled ends within the first warning's reach: :func:`warning_due` says which warning."""
    return MembershipEnd.objects.filter(
        status=AccessEndStatus.SCHEDULED, expires_at__gt=now, expires_at__lte=now + timedelta(days=WARNING_DAYS[0])
    ).order_by("expires_at", "pk")


def warning_due(end: MembershipEnd, now: datetime) -> int | None:
    """The warning (days ahead) ``end`` should have had by ``now`` and has not, or None."""
    reached = [days for days in WARNING_DAYS if end.expires_at - now <= timedelta(days=days)]
    if not reached:
        return None
    days = min(reached)
    return days if end.warned_days is None or end.warned_days > days else None


def accounts_ending_within(queryset: QuerySet[Account], days: int, now: datetime) -> QuerySet[Account]:
    """Accounts of ``queryset`` with a membership that ends within ``days`` days of ``now``."""
    ending = MembershipEnd.objects.filter(
        status=AccessEndStatus.SCHEDULED, expires_at__gt=now, expires_at__lte=now + timedelta(days=days)
    )
    return queryset.filter(pk__in=ending.values("account_id"))


def with_access_until(queryset: QuerySet[Account]) -> QuerySet[Account]:
    """Annotates ``access_until``: the earliest end of the account's scheduled memberships (None
    for accounts with no end date, i.e. everyone but contractors and the like)."""
    earliest = (
        MembershipEnd.objects.filter(account=OuterRef("pk"), status=AccessEndStatus.SCHEDULED)
        .values("account")
        .annotate(first=Min("expires_at"))
        .values("first")
    )
    return queryset.annotate(access_until=Subquery(earliest[:1]))


def open_ends_of(account: Account) -> QuerySet[MembershipEnd]:
    return (
        MembershipEnd.objects.filter(account=account, status__in=(AccessEndStatus.SCHEDULED, AccessEndStatus.REMOVING))
        .select_related("group")
        .order_by("expires_at")
    )
