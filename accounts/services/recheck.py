"""Reading one account from Atlassian right before a destructive action (DESIGN.md 5.10).

Policies and bulk actions decide on the mirror, which is as old as the last sync. Right before
suspending, deactivating, deleting or taking product access away, the portal reads that one
account (the v2 user search for its id, in its own directory) and cancels the action, saying
why, when the account is no longer what the decision was made on: it was active since, its
status changed, it already lost the product, or it moved to another directory. The read is the
record the sync reads, so it also brings the mirror up to date for that account.
"""

from collections.abc import Sequence
from datetime import timedelta

from accounts.models import Account, AccountStatus, Product
from accounts.services.errors import ChangedSinceSync
from accounts.services.read_ahead import ReadAhead
from accounts.sync.runner import USER_EXPAND
from accounts.sync.users import STATUS_FROM_REMOTE
from governance.atlassian.client import AtlassianClient
from governance.atlassian.records import DirectoryUser

# Atlassian's timestamps carry milliseconds and the mirror holds them as sent; a second of
# tolerance keeps a rounding from reading as new activity.
ACTIVITY_TOLERANCE = timedelta(seconds=1)


def account_recheck(
    *,
    account: Account,
    client: AtlassianClient,
    products: Sequence[Product] | None = None,
    done_status: str | None = None,
    ahead: ReadAhead | None = None,
) -> DirectoryUser:
    """Atlassian's record of ``account`` now; raises :class:`ChangedSinceSync` (with the reason)
    when it changed since the sync in a way that cancels a destructive action.

    ``products``: for a product removal, the products to take (lost already: cancelled).
    ``done_status``: the status the action leaves, accepted as it is (a run completing an action
    that an earlier, interrupted attempt already carried out). ``ahead``: the run's read-ahead,
    whose record of the account is used when it is as good as a read of its own
    (accounts/services/read_ahead.py). Atlassian errors propagate.
    """
    directory = account.directory_id
    user = ahead.record_for(account, client) if ahead is not None else None
    if user is None:
        user = client.user_by_id(account.account_id, expand=USER_EXPAND, directory_id=directory or None)
    if user is None:
        where = account.organization.directory_name(directory) if directory else ""
        raise ChangedSinceSync(
            f"{account} is no longer in the directory {where} since the sync (moved to another directory or removed)"
            if directory
            else f"{account} is no longer listed by Atlassian since the sync"
        )
    status = STATUS_FROM_REMOTE.get(user.status, AccountStatus.UNKNOWN)
    if status != account.status and status != done_status:
        raise ChangedSinceSync(
            f"{account}'s status changed since the sync: {account.get_status_display().lower()} in the mirror, "
            f"{AccountStatus(status).label.lower()} in Atlassian",
            user=user,
        )
    latest = max((p.last_active for p in user.product_access if p.last_active), default=None)
    if latest is not None and (account.last_active is None or latest > account.last_active + ACTIVITY_TOLERANCE):
        seen = account.last_active.date().isoformat() if account.last_active else "never"
        raise ChangedSinceSync(
            f"{account} was active in Atlassian on {latest.date().isoformat()}, after the sync "
            f"(the mirror's last activity: {seen})",
            user=user,
        )
    if products:
        held = {p.resource_id for p in user.product_access}
        if not any(p.resource_id in held for p in products):
            names = ", ".join(p.name or p.key for p in products)
            raise ChangedSinceSync(f"{account} no longer has {names} in Atlassian since the sync", user=user)
    return user


class NoLongerMember(ChangedSinceSync):
    """Read right before a membership is removed, the account is not in the group any more in
    Atlassian (or not listed in its directory at all): there is nothing to remove."""


def membership_recheck(*, account: Account, group_id: str, client: AtlassianClient) -> DirectoryUser:
    """Atlassian's record of ``account`` right before taking it out of the group ``group_id``
    (an end date's removal). Raises :class:`NoLongerMember` when it is not in the group (or not in
    its directory) any more, and :class:`ChangedSinceSync` when its status changed since the sync.

    Unlike :func:`account_recheck`, activity after the sync does not count: an end date is a date
    the access was given until, not a decision made on the account's activity."""
    directory = account.directory_id
    user = client.user_by_id(account.account_id, expand=USER_EXPAND, directory_id=directory or None)
    if user is None:
        raise NoLongerMember(f"{account} is no longer listed by Atlassian in its directory since the sync")
    if group_id not in {ref.id for ref in user.groups}:
        raise NoLongerMember(f"{account} is no longer a member of the group in Atlassian", user=user)
    status = STATUS_FROM_REMOTE.get(user.status, AccountStatus.UNKNOWN)
    if status != account.status:
        raise ChangedSinceSync(
            f"{account}'s status changed since the sync: {account.get_status_display().lower()} in the mirror, "
            f"{AccountStatus(status).label.lower()} in Atlassian",
            user=user,
        )
    return user
