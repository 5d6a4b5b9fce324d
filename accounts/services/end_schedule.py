"""Where an end date is written for a membership: shared by the add (accounts.services.memberships)
and the end-date services (accounts.services.access_ends), which import each other's module."""

from datetime import datetime

from accounts.models import Account, Group, MembershipEnd
from accounts.models.ends import OPEN_END_STATUSES, new_nonce
from governance.audit.record import Actor


def end_schedule(
    *, account: Account, group: Group, expires_at: datetime, actor: Actor, reason: str
) -> tuple[MembershipEnd, datetime | None]:
    """Create or move the open end of ``account`` in ``group``; returns it and the date it had.
    Runs inside the caller's transaction (a membership's add, or :func:`membership_end_set`)."""
    end = (
        MembershipEnd.objects.select_for_update()
        .filter(account=account, group=group, status__in=OPEN_END_STATUSES)
        .first()
    )
    previous = end.expires_at if end else None
    if end is None:
        end = MembershipEnd(account=account, group=group)
    end.expires_at, end.reason = expires_at, reason
    end.warned_days, end.nonce, end.error = None, new_nonce(), ""
    end.granted_by, end.granted_by_name = actor.user, actor.name
    end.save()
    return end, previous
