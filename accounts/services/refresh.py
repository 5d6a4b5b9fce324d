"""Making one account's mirror equal Atlassian right after the portal changed it there.

A service mirrors its own change from what it asked for, but Atlassian decides what that change
means: taking someone out of a group takes away every product and role the group granted, lifting
a suspension brings back whatever the account held, and billable follows from all of it. Until
the next sync the mirror would then tell policies, the preview and the seat counts something else
than Atlassian (DESIGN.md 5.10). So right after its remote call a service reads that one account
back (the v2 user search with ``accountIds=[id]``, the record a sync reads) and writes it through
the sync's own mapping (accounts/sync/users.py ``write_users``): status, memberships, product
access, billable, licence-group count and activity become Atlassian's, in the transaction of the
change's audit event, and the next sync has nothing left to change for the account.

A read-back that fails leaves the service's own update in place (the change did happen) and says
so on its audit event; the next sync brings the account up to date.
"""

import logging

from django.db import DatabaseError, transaction

from accounts.models import Account
from accounts.services.account_lock import changes_account
from accounts.services.readback import REFRESHED_FIELDS, mirror_remote_user, read_back
from accounts.services.remote import lock_for_change
from accounts.sync.context import SyncDataError
from governance.atlassian.client import AtlassianClient
from governance.atlassian.records import DirectoryUser
from governance.audit.record import Actor, record_events

log = logging.getLogger(__name__)


@changes_account
def account_refresh(
    *,
    account: Account,
    client: AtlassianClient,
    actor: Actor,
    correlation_id: str = "",
    user: DirectoryUser | None = None,
) -> bool:
    """Read ``account`` back from Atlassian and make its mirror equal to it; False (the mirror left
    as it was) when Atlassian could not be read. For the end of a multi-step change (a product's
    groups and roles): one read for all its steps. Single-step services do the same inside their
    own transaction (accounts.services.remote.perform). ``user``: Atlassian's record read just
    before (the re-check before an action), not read again."""
    why = ""
    if user is None:
        user, why = read_back(client, account)
    if user is None:
        log.info("Account %s not refreshed: %s", account.account_id, why)
        return False
    try:
        with transaction.atomic():
            locked = lock_for_change(account.pk)
            locked.save(update_fields=["portal_changed_at"])
            events = mirror_remote_user(locked, user, actor=actor, correlation_id=correlation_id)
            if events:
                record_events(events)
    except (SyncDataError, DatabaseError):
        # The changes it follows are made and audited already; the next sync mirrors them.
        log.exception("Writing account %s as read back failed", account.account_id)
        return False
    for field in (*REFRESHED_FIELDS, "portal_changed_at"):
        setattr(account, field, getattr(locked, field))
    return True
