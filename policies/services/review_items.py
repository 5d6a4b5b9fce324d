"""Access review items: who sees which, deciding them (keep or revoke, with a reason), and giving
back what a closed campaign took. Starting and closing campaigns: reviews.py.

Every write is one transaction with its audit events; giving back goes through the accounts
services (review_scopes.give_back), never around them.
"""

from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.services.errors import ServiceRefused
from governance.atlassian.client import AtlassianClient
from governance.atlassian.errors import AtlassianError
from governance.audit.models import AuditAction
from governance.audit.record import Actor, record_event, record_events
from policies.models import CampaignStatus, ItemOutcome, ReviewDecision, ReviewItem
from policies.services import review_scopes
from policies.services.review_give_back import item_give_back_fulfilled
from policies.services.reviews import DECIDE_PERMISSION, ReviewRefused

RESTORE_PERMISSION = "policies.restore_reviewitem"


def items_of(user: Any) -> QuerySet[ReviewItem]:
    """The items ``user`` may see: all of them with ``view_reviewcampaign`` (admins, help desk,
    auditors), else only those assigned to them (the Reviewers role)."""
    items = ReviewItem.objects.all()
    if user.has_perm("policies.view_reviewcampaign"):
        return items
    if not user.has_perm("policies.view_reviewitem"):
        return items.none()
    return items.filter(reviewer=user)


def items_decide(*, items: Iterable[ReviewItem], decision: str, reason: str, user: Any, actor: Actor) -> int:
    """Record ``decision`` (keep or revoke) with ``reason`` on ``items``, all of which must be the
    user's own and in an open campaign: otherwise nothing changes. One audit event per item.
    Returns how many were decided. A decision may be changed until the campaign closes."""
    if decision not in ReviewDecision.values:
        raise ReviewRefused("Decide keep or revoke.")
    if not reason.strip():
        raise ReviewRefused("Give a reason.")
    if not user.has_perm(DECIDE_PERMISSION):
        raise ReviewRefused("You may not decide review items.")
    pks = [item.pk for item in items]
    if not pks:
        return 0
    now = timezone.now()
    with transaction.atomic():
        rows = list(
            # The items and their campaign (a close waits for the decision, and the reverse), not the
            # group or product: outer joins (null for other scopes), which PostgreSQL refuses to lock.
            ReviewItem.objects.select_for_update(of=("self", "campaign"))
            .filter(pk__in=pks)
            .select_related("campaign__organization", "account", "group", "product")
        )
        if len(rows) != len(set(pks)) or any(row.reviewer_id != user.pk for row in rows):
            raise ReviewRefused("You can only decide items assigned to you.")
        if any(row.campaign.status != CampaignStatus.OPEN for row in rows):
            raise ReviewRefused("That campaign is no longer open.")
        events = []
        for row in rows:
            before = {"decision": row.decision, "reason": row.reason}
            row.decision, row.reason, row.decided_at = decision, reason.strip(), now
            events.append(
                dict(
                    actor=actor,
                    action=AuditAction.REVIEW_DECIDED,
                    target=row,
                    organization=row.campaign.organization.org_id,
                    reason=row.reason,
                    before=before,
                    after={"decision": decision, "campaign": row.campaign.name, "access": row.access},
                )
            )
        ReviewItem.objects.bulk_update(rows, ["decision", "reason", "decided_at"])
        record_events(events)
    return len(rows)


def item_restore(*, item: ReviewItem, client: AtlassianClient, actor: Actor, reason: str) -> None:
    """Give back what closing took for one item, exactly (review_scopes.give_back: the group, the
    product's groups and roles, or the suspension lifted), through the accounts services (their own
    audit events), then ``review.item_restored``. Only an item whose access was removed qualifies."""
    if not reason.strip():
        raise ReviewRefused("Give a reason.")
    # The claim: two people pressing "Give back" at once send it once.
    if not ReviewItem.objects.filter(pk=item.pk, outcome=ItemOutcome.REVOKED).update(outcome=ItemOutcome.ACTING):
        raise ReviewRefused("Only an item whose access was removed can be given back.")
    item = ReviewItem.objects.select_related("campaign__organization", "account", "group", "product").get(pk=item.pk)
    try:
        review_scopes.give_back(item, client=client, actor=actor, reason=reason)
    except (ServiceRefused, AtlassianError) as exc:
        ReviewItem.objects.filter(pk=item.pk).update(outcome=ItemOutcome.REVOKED)
        raise ReviewRefused(f"Not given back: {exc}") from exc
    now = timezone.now()
    with transaction.atomic():
        ReviewItem.objects.filter(pk=item.pk).update(outcome=ItemOutcome.RESTORED, acted_at=now)
        # The person may have asked for it from the removal email: that request is now fulfilled.
        requested = item_give_back_fulfilled(item=item, now=now)
        record_event(
            actor=actor,
            action=AuditAction.REVIEW_ITEM_RESTORED,
            target=item,
            organization=item.campaign.organization.org_id,
            reason=reason.strip(),
            correlation_id=f"review-{item.campaign_id}",
            before={"outcome": ItemOutcome.REVOKED},
            after={
                "outcome": ItemOutcome.RESTORED,
                "campaign": item.campaign.name,
                "given_back": item.removed,
                **({"request": "fulfilled"} if requested else {}),
            },
        )
    item.outcome, item.acted_at = ItemOutcome.RESTORED, now
