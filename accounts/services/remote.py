"""The one pattern every change to Atlassian follows.

1. The remote call runs outside any transaction: holding SQLite's write lock (or PostgreSQL
   row locks) across an HTTP call would stall every other writer for its duration.
2. On success, the mirror update and its audit event commit together in one transaction, under
   the account's row lock, and the account is stamped ``portal_changed_at`` (before the call too):
   a sync holding pages fetched before then leaves the account alone (accounts/sync/users.py).
3. Right after a successful call, given the ``client``, the account is read back from Atlassian
   (one search for its id, still outside the transaction) and written into the mirror in that same
   transaction (accounts/services/readback.py): the mirror then equals Atlassian for the account,
   whatever else the change brought along (DESIGN.md 5.10). A multi-step change passes
   ``refresh=False`` to its steps and refreshes once at the end (accounts/services/refresh.py).
4. On failure, one ``atlassian.call_failed`` event records what was attempted and Atlassian's
   answer, and the error is re-raised for the caller to report.
"""

import logging
from collections.abc import Callable
from typing import Any

from django.db import DatabaseError, models, transaction
from django.utils import timezone

from accounts.models import Account
from accounts.services.account_lock import changes_account
from accounts.services.readback import REFRESHED_FIELDS, mirror_remote_user, read_back
from accounts.sync.context import SyncDataError
from governance.atlassian.client import AtlassianClient
from governance.atlassian.errors import AtlassianError
from governance.audit.models import AuditAction
from governance.audit.record import Actor, record_event, record_events

log = logging.getLogger(__name__)


@changes_account
def perform(
    *,
    account: Account,
    actor: Actor,
    action: str,
    remote: Callable[[], object],
    mirror: Callable[[Account], dict[str, Any]] | None = None,
    reason: str = "",
    correlation_id: str = "",
    target: models.Model | None = None,
    target_fields: dict[str, Any] | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    client: AtlassianClient | None = None,
    refresh: bool = True,
) -> Account:
    """Run ``remote()``, then apply ``mirror(locked_account)`` (returns the fields it changed), read
    the account back through ``client`` (unless ``refresh`` is off) and audit."""
    common = dict(
        actor=actor,
        reason=reason,
        correlation_id=correlation_id,
        organization=account.organization.org_id,
        **(target_fields or {}),
    )
    if target is None and not target_fields:
        common["target"] = account
    elif target is not None:
        common["target"] = target
    # Stamped before the call as well as in the mirror update after it: a sync batch whose pages
    # were fetched once the call had landed, written before this change's mirror update commits,
    # would otherwise take the change for news of its own ("account.suspended" by the sync) and
    # the audit trail would tell it twice. This UPDATE waits for a batch holding the account's
    # row (or SQLite's write lock), so a batch either finished before the call or sees the stamp
    # and leaves the account to this change (accounts/sync/users.py _without_newer_changes).
    Account.objects.filter(pk=account.pk).update(portal_changed_at=timezone.now())
    try:
        remote()
    except AtlassianError as exc:
        # And after it: a call without an answer may still land. A re-check read ahead while it
        # was on its way (accounts/services/read_ahead.py) then sees the account changed since.
        Account.objects.filter(pk=account.pk).update(portal_changed_at=timezone.now())
        with transaction.atomic():
            record_event(
                action=AuditAction.ATLASSIAN_CALL_FAILED,
                before=before,
                after={
                    "attempted": str(action),
                    "error": str(exc),
                    "status": exc.status,
                    "code": exc.code,
                    "retryable": exc.retryable,
                },
                **common,
            )
        raise
    user, unread = read_back(client, account) if client is not None and refresh else (None, "")
    with transaction.atomic():
        locked = lock_for_change(account.pk)
        changed = mirror(locked) if mirror else {}
        for field, value in changed.items():
            setattr(locked, field, value)
        locked.save(update_fields=[*changed, "portal_changed_at"])
        seen: list[dict[str, Any]] = []
        if user is not None:
            expected = {field: getattr(locked, field) for field in REFRESHED_FIELDS}
            try:
                # A savepoint: whatever goes wrong writing the read-back, the change itself happened
                # in Atlassian and its audit event must still commit.
                with transaction.atomic():
                    seen = mirror_remote_user(locked, user, actor=actor, correlation_id=correlation_id)
            except (SyncDataError, DatabaseError) as exc:
                log.exception("Writing account %s as read back failed", account.account_id)
                user, unread = None, f"not refreshed from Atlassian ({type(exc).__name__}); the next sync does it"
                locked.refresh_from_db(fields=REFRESHED_FIELDS)
        if user is not None:
            changed.update(
                (field, getattr(locked, field))
                for field in REFRESHED_FIELDS
                if field != "last_synced_at" and getattr(locked, field) != expected[field]
            )
        details = {**(after or {}), **changed_json(changed)}
        if unread:
            details["mirror"] = unread
        record_event(action=action, before=before, after=details, **common)
        if seen:
            record_events(seen)
    for field in (*changed, *(REFRESHED_FIELDS if user is not None else ()), "portal_changed_at"):
        setattr(account, field, getattr(locked, field))
    return account


def lock_for_change(pk: int) -> Account:
    """The account, its row locked until the transaction ends, with ``portal_changed_at`` set to now
    (for the caller to save with its other changes to the mirror, in that transaction).

    Every change the portal makes in Atlassian takes this lock before touching the account's mirror
    rows (the account, its memberships and product access), and stamps it even when the mirror
    needed no change: Atlassian did change, and a page fetched before then is out of date. Only
    the account's row is locked (``of``): joining the organization would lock its row as well,
    which every insert of an account of that organization needs to share.
    """
    locked = Account.objects.select_for_update(of=("self",)).select_related("organization").get(pk=pk)
    locked.portal_changed_at = timezone.now()
    return locked


def changed_json(changed: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in changed.items()}
