"""The daily activity snapshot behind the dashboard's trend (one upsert per organization per day)."""

from datetime import datetime, timedelta

from django.db.models import Count, Q
from django.utils import timezone

from accounts.models import Account, AccountStatus, ActivitySnapshot, Organization

ACTIVE_WINDOW = timedelta(days=30)


def activity_counts(*, accounts, now: datetime) -> dict:
    """``active_30d``, ``inactive`` (active status only) and ``by_status`` for a queryset of accounts."""
    recent = Q(last_active__gte=now - ACTIVE_WINDOW)
    active = Q(status=AccountStatus.ACTIVE)
    totals = accounts.aggregate(
        active_30d=Count("pk", filter=active & recent),
        inactive=Count("pk", filter=active & ~recent),
    )
    by_status = dict(accounts.order_by().values_list("status").annotate(n=Count("pk")))
    return {**totals, "by_status": by_status}


def activity_snapshot_record(*, organization: Organization, now: datetime) -> ActivitySnapshot:
    """Write today's snapshot of ``organization``; a second sync the same day replaces the first."""
    counts = activity_counts(accounts=Account.objects.filter(organization=organization), now=now)
    snapshot = ActivitySnapshot(organization=organization, date=timezone.localdate(now), taken_at=now, **counts)
    # One INSERT ... ON CONFLICT DO UPDATE: no read-then-write race between two syncs.
    ActivitySnapshot.objects.bulk_create(
        [snapshot],
        update_conflicts=True,
        unique_fields=["organization", "date"],
        update_fields=["active_30d", "inactive", "by_status", "taken_at"],
    )
    return snapshot
