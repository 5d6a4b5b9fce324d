"""Asking for what an access review removed back, and the help desk's answer.

Closing a campaign emails each person whose access it removed a personal link (policies/links.py,
bound to the item's ``give_back_nonce``). The link's page records a request here; the help desk
then gives it back ("Give back…", review_items.item_restore, which marks the request fulfilled) or
refuses it with a reason. Each write is one transaction with its audit event; the emails and the
help desk's notice go out once it has committed and never undo it.
"""

from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from governance.audit.models import AuditAction
from governance.audit.record import Actor, record_event
from policies import events
from policies.access.emails import send_give_back_outcome
from policies.models import GiveBackStatus, ItemOutcome, ReviewItem
from policies.models.enforcement import new_nonce
from policies.services import notifications
from policies.services.reviews import ReviewRefused


def _admin_url(item: ReviewItem) -> str:
    return f"{settings.PORTAL_BASE_URL}/admin/policies/reviewitem/{item.pk}/change/"


def item_give_back_request(
    *, item: ReviewItem, nonce: str, justification: str, actor: Actor, now: datetime | None = None
) -> ReviewItem:
    """Record the person's request to have ``item`` back, made from the removal email's link. The
    link is used up here (its nonce rotates), so a second submit records nothing new. The help desk
    is told like for any waiting access request."""
    now = now or timezone.now()
    justification = justification.strip()
    with transaction.atomic():
        won = ReviewItem.objects.filter(
            pk=item.pk, give_back_nonce=nonce, outcome=ItemOutcome.REVOKED, give_back_status=GiveBackStatus.NONE
        ).update(
            give_back_nonce=new_nonce(),
            give_back_status=GiveBackStatus.REQUESTED,
            give_back_justification=justification,
            give_back_requested_at=now,
        )
        if not won:
            raise ReviewRefused("This link has already been used.")
        item = ReviewItem.objects.select_related("campaign__organization", "account", "group", "product").get(
            pk=item.pk
        )
        record_event(
            actor=actor,
            action=AuditAction.REVIEW_GIVE_BACK_REQUESTED,
            target=item,
            organization=item.campaign.organization.org_id,
            reason=justification,
            correlation_id=f"review-{item.campaign_id}",
            after={"give_back": GiveBackStatus.REQUESTED, "campaign": item.campaign.name, "access": item.access},
        )
        transaction.on_commit(lambda: _tell_help_desk(item))
    return item


def _tell_help_desk(item: ReviewItem) -> None:
    account = item.account
    notifications.send_digest(
        subject=f"{account} asks for access an access review removed: {item.access}",
        lines=[
            f"{account} ({account.email}) asks to have {item.access} back, removed by the access review "
            f"'{item.campaign.name}'.",
            f"Justification: {item.give_back_justification or '(none given)'}",
            f"Give it back or refuse the request in the admin: {_admin_url(item)}",
        ],
    )
    events.review_give_back_waiting(
        item_id=item.pk, organization=item.campaign.organization.org_id, url=_admin_url(item)
    )


def item_give_back_refuse(*, item: ReviewItem, actor: Actor, reason: str, now: datetime | None = None) -> ReviewItem:
    """Refuse a pending request: the access stays removed; the person is emailed the reason."""
    reason = (reason or "").strip()
    if not reason:
        raise ReviewRefused("Give a reason: it is recorded and sent to the person.")
    now = now or timezone.now()
    with transaction.atomic():
        won = ReviewItem.objects.filter(pk=item.pk, give_back_status=GiveBackStatus.REQUESTED).update(
            give_back_status=GiveBackStatus.REFUSED, give_back_refusal=reason, give_back_decided_at=now
        )
        if not won:
            raise ReviewRefused("Nobody is waiting for an answer about this item.")
        item = ReviewItem.objects.select_related("campaign__organization", "account", "group", "product").get(
            pk=item.pk
        )
        record_event(
            actor=actor,
            action=AuditAction.REVIEW_GIVE_BACK_REFUSED,
            target=item,
            organization=item.campaign.organization.org_id,
            reason=reason,
            correlation_id=f"review-{item.campaign_id}",
            before={"give_back": GiveBackStatus.REQUESTED},
            after={"give_back": GiveBackStatus.REFUSED, "campaign": item.campaign.name, "access": item.access},
        )
        transaction.on_commit(lambda: send_give_back_outcome(item, "refused"))
    return item


def item_give_back_fulfilled(*, item: Any, now: datetime) -> bool:
    """Called by item_restore inside its transaction: a pending request is now fulfilled (the
    person is emailed once it commits). False when nobody had asked."""
    done = ReviewItem.objects.filter(pk=item.pk, give_back_status=GiveBackStatus.REQUESTED).update(
        give_back_status=GiveBackStatus.FULFILLED, give_back_decided_at=now
    )
    if done:
        transaction.on_commit(lambda: send_give_back_outcome(item, "fulfilled"))
    return bool(done)
