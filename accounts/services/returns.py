"""An account's return date: the day the portal gives back what its policies took (policies.access.returns).

Setting it changes nothing in Atlassian, so no remote call and no change lock: one conditional
write and its audit event, in one transaction.
"""

from datetime import date, datetime

from django.db import transaction
from django.utils import timezone

from accounts.models import Account, AccountStatus
from accounts.services.errors import ServiceRefused
from governance.audit.models import AuditAction
from governance.audit.record import Actor, record_event


def account_return_date_set(
    *,
    account: Account,
    return_on: date | None,
    actor: Actor,
    reason: str = "",
    now: datetime | None = None,
    correlation_id: str = "",
) -> Account:
    """Set (or, with ``None``, clear) the account's return date. Refuses a day already past (today is
    fine: the next daily run, or one started by hand, gives the access back) and a removed account."""
    today = timezone.localdate(now or timezone.now())
    if return_on is not None:
        if return_on < today:
            raise ServiceRefused(f"The return date {return_on:%Y-%m-%d} has passed; give a day from {today:%Y-%m-%d}.")
        if account.status == AccountStatus.REMOVED:
            raise ServiceRefused(f"{account} is no longer in the organization; nothing can be given back to it.")
    with transaction.atomic():
        locked = Account.objects.select_for_update(of=("self",)).select_related("organization").get(pk=account.pk)
        before = locked.return_on
        if before == return_on:
            return locked
        # A new date also drops a claim a return-date run may hold on the old one.
        Account.objects.filter(pk=locked.pk).update(return_on=return_on, return_claimed_by=None, return_claimed_at=None)
        record_event(
            actor=actor,
            action=AuditAction.ACCOUNT_RETURN_DATE_SET,
            target=locked,
            before={"return_on": before.isoformat() if before else None},
            after={"return_on": return_on.isoformat() if return_on else None},
            reason=reason,
            organization=locked.organization.org_id,
            correlation_id=correlation_id,
        )
    account.return_on = return_on
    return account
