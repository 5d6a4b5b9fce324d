"""The one pattern every change to Atlassian follows.

1. The remote call runs outside any transaction: holding SQLite's write lock (or PostgreSQL
   row locks) across an HTTP call would stall every other writer for its duration.
2. On success, the mirror update and its audit event commit together in one transaction.
3. On failure, one ``atlassian.call_failed`` event records what was attempted and Atlassian's
   answer, and the error is re-raised for the caller to report.
"""

from collections.abc import Callable

from django.db import transaction

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
        locked = Account.objects.select_for_update().select_related("organization").get(pk=account.pk)
        changed = mirror(locked) if mirror else {}
        for field, value in changed.items():
            setattr(locked, field, value)
        if changed:
            locked.save(update_fields=list(changed))
        record_event(action=action, before=before, after={**(after or {}), **changed_json(changed)}, **common)
    for field, value in changed.items():
        setattr(account, field, value)
    return account


def changed_json(changed: dict) -> dict:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in changed.items()}
