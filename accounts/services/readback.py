"""Reading one account back from Atlassian and writing it into the mirror (see refresh.py)."""

import logging
from typing import Any

from django.db.models import F
from django.utils import timezone

from accounts.models import Account, Group, GroupProductGrant, Membership, ProductAccess
from accounts.sync.context import SyncContext
from accounts.sync.groups import load_products
from accounts.sync.runner import USER_EXPAND
from accounts.sync.users import ACCOUNT_FIELDS, ensure_page_references, known_account, write_users
from governance.atlassian.client import AtlassianClient
from governance.atlassian.errors import AtlassianError
from governance.atlassian.records import DirectoryUser
from governance.audit.record import Actor

log = logging.getLogger(__name__)

SEEN_REASON = "seen in Atlassian right after the portal's change"
# What a refresh may change on the account row (besides the rows of its memberships and access).
REFRESHED_FIELDS = (*ACCOUNT_FIELDS, "status_changed_at", "last_synced_at")


def read_back(client: AtlassianClient, account: Account) -> tuple[DirectoryUser | None, str]:
    """Atlassian's record of ``account`` now, or None and a sentence saying why there is none."""
    try:
        user = client.user_by_id(account.account_id, expand=USER_EXPAND)
    except AtlassianError as exc:
        log.warning("Reading account %s back from Atlassian failed: %s", account.account_id, exc)
        return None, f"not read back from Atlassian ({exc}); the next sync brings the mirror up to date"
    if user is None:
        # Apps, portal customers, accounts out of every directory: a complete sync decides.
        return None, "not listed by Atlassian's user search; the next sync brings the mirror up to date"
    return user, ""


def mirror_remote_user(
    locked: Account, user: DirectoryUser, *, actor: Actor, correlation_id: str = ""
) -> list[dict[str, Any]]:
    """Write ``user``, Atlassian's record of ``locked``, into the mirror; ``locked`` is the account,
    its row locked by the caller's transaction (``lock_for_change``), and is reloaded afterwards.

    Returns the audit events of what differed beyond the caller's own update (a status or a group
    the portal did not expect), for the caller to record in its transaction, as a sync would.
    """
    organization = locked.organization
    ctx = SyncContext(
        organization=organization,
        now=timezone.now(),
        correlation_id=correlation_id,
        actor=actor,
        seen_reason=SEEN_REASON,
    )
    load_products(ctx)
    groups = Group.objects.filter(organization=organization, group_id__in=[g.id for g in user.groups])
    for group_id, pk, licence in groups.values_list("group_id", "pk", "is_licence_group"):
        ctx.group_pks[group_id] = pk
        if licence:
            ctx.licence_group_pks.add(pk)
    grants = GroupProductGrant.objects.filter(group_id__in=list(ctx.group_pks.values()))
    for group_pk, product_pk in grants.values_list("group_id", "product_id"):
        ctx.grants_by_group.setdefault(group_pk, set()).add(product_pk)
    ensure_page_references(ctx, [user])
    before = set(Membership.objects.filter(account=locked).values_list("group_id", flat=True))
    events = write_users(ctx, [user], {locked.account_id: known_account(locked)})
    after = set(Membership.objects.filter(account=locked).values_list("group_id", flat=True))
    # The sync takes group sizes from the group listing; here the account's own joins and leaves
    # keep them right, as membership_add and membership_remove do.
    if after - before:
        Group.objects.filter(pk__in=after - before).update(member_count=F("member_count") + 1)
    if before - after:
        Group.objects.filter(pk__in=before - after, member_count__gt=0).update(member_count=F("member_count") - 1)
    # A sync keeps activity Atlassian sent blank until its end-of-run check over the whole mirror
    # (DESIGN.md 5.2). This answer is complete for its one account: it is applied as it is.
    if ctx.blanked_accounts:
        Account.objects.filter(pk=locked.pk).update(last_active=None)
    if ctx.blanked_access:
        ProductAccess.objects.filter(pk__in=ctx.blanked_access).update(last_active=None)
    locked.refresh_from_db(fields=REFRESHED_FIELDS)
    return events
