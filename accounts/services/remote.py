"""The one pattern every change to Atlassian follows.

1. The remote call runs outside any transaction: holding SQLite's write lock (or PostgreSQL
   row locks) across an HTTP call would stall every other writer for its duration.
2. On success, the mirror update and its audit event commit together in one transaction, under
   the account's row lock, and the account is stamped ``portal_changed_at``: a sync holding
   pages fetched before then leaves the account alone (accounts/sync/users.py).
3. On failure, one ``atlassian.call_failed`` event records what was attempted and Atlassian's
   answer, and the error is re-raised for the caller to report.
"""

from collections.abc import Callable

from django.db import transaction
from django.utils import timezone

from accounts.models import Account
from governance.atlassian.errors import AtlassianError
from governance.audit.models import AuditAction
from governance.audit.record import Actor, record_event


def perform(
    *,
    account: Account,
    actor: Actor,
    action: str,
    remote: Callable[[], object],
    mirror: Callable[[Account], dict] | None = None,
    reason: str = "",
    correlation_id: str = "",
    target=None,
    target_fields: dict | None = None,
    before: dict | None = None,
    after: dict | None = None,
) -> Account:
    """Run ``remote()``, then apply ``mirror(locked_account)`` (returns the fields it changed) and audit."""
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
    try:
        remote()
    except AtlassianError as exc:
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
    with transaction.atomic():
        locked = lock_for_change(account.pk)
        changed = mirror(locked) if mirror else {}
        for field, value in changed.items():
            setattr(locked, field, value)
        locked.save(update_fields=[*changed, "portal_changed_at"])
        record_event(action=action, before=before, after={**(after or {}), **changed_json(changed)}, **common)
    for field, value in changed.items():
        setattr(account, field, value)
    account.portal_changed_at = locked.portal_changed_at
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


def changed_json(changed: dict) -> dict:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in changed.items()}
