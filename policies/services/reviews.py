"""Access review campaigns: start one, close it (taking revoked access away), and who reviews what
(group review owners). Deciding items and giving back what a review took: review_items.py.

Every write is one transaction with its audit events. Revocations go through the accounts services
(the per-account lock, the read-back, their own audit event), never around them; what each scope's
revoke and give-back does is in policies/services/review_scopes.py. Closing is capped like a policy run (DESIGN.md 5.4):
more than ``max_revocations`` removals halt the campaign until a person raises the cap.
"""

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.models import Group, Organization, Product
from governance.atlassian.client import AtlassianClient
from governance.audit.models import AuditAction
from governance.audit.record import Actor, record_event
from policies.access.emails import send_review_removed
from policies.models import (
    CampaignStatus,
    GroupReviewOwner,
    ItemOutcome,
    ReviewCampaign,
    ReviewDecision,
    ReviewItem,
    ReviewScope,
    UndecidedOutcome,
)
from policies.models.enforcement import new_nonce
from policies.services import review_scopes

log = logging.getLogger(__name__)


DECIDE_PERMISSION = "policies.decide_reviewitem"


class ReviewRefused(Exception):
    """The review change is not allowed; the message is meant for the person who asked."""


def _reviewer_for(group: Group, *, reviewer: Any, owners: dict[int, Any], fallback: Any) -> Any:
    return reviewer or owners.get(group.pk) or fallback


def campaign_check(
    *,
    organization: Organization,
    name: str,
    groups: Iterable[Group],
    deadline: datetime,
    reviewer: Any = None,
    fallback_reviewer: Any = None,
    scope: str = ReviewScope.GROUPS,
    products: Iterable[Product] = (),
) -> None:
    """Raise :class:`ReviewRefused` when a campaign so described may not start (what
    ``campaign_start`` refuses; the admin's form and the API ask first, to show it field by field)."""
    groups, products = list(groups), list(products)
    if not name.strip():
        raise ReviewRefused("Give the campaign a name.")
    if scope not in ReviewScope.values:
        raise ReviewRefused(f"Unknown scope {scope!r}.")
    if deadline <= timezone.now():
        raise ReviewRefused("The deadline must be in the future.")
    if scope == ReviewScope.GROUPS and not groups:
        raise ReviewRefused("Choose at least one group.")
    if scope == ReviewScope.PRODUCTS and not products:
        raise ReviewRefused("Choose at least one product.")
    if scope != ReviewScope.GROUPS and groups:
        raise ReviewRefused("Groups are chosen only for a review of group members.")
    if scope != ReviewScope.PRODUCTS and products:
        raise ReviewRefused("Products are chosen only for a review of product holders.")
    if any(g.organization_id != organization.pk for g in groups) or any(
        p.organization_id != organization.pk for p in products
    ):
        raise ReviewRefused("Every group and product must belong to the campaign's organization.")
    if scope == ReviewScope.GROUPS:
        owners = {o.group_id: o.user for o in GroupReviewOwner.objects.filter(group__in=groups).select_related("user")}
        orphans = [
            g.name
            for g in groups
            if _reviewer_for(g, reviewer=reviewer, owners=owners, fallback=fallback_reviewer) is None
        ]
        if orphans:
            raise ReviewRefused(
                f"Nobody would review {', '.join(orphans)}: name a reviewer, a group owner or a fallback."
            )
        assigned = {_reviewer_for(g, reviewer=reviewer, owners=owners, fallback=fallback_reviewer) for g in groups}
    else:  # group owners review groups only
        if (reviewer or fallback_reviewer) is None:
            raise ReviewRefused("Nobody would review the items: name a reviewer or a fallback.")
        assigned = {reviewer or fallback_reviewer}
    # An item assigned to someone who may not decide would stay undecided whatever happens.
    unable = sorted(str(user) for user in assigned if not (user.is_active and user.has_perm(DECIDE_PERMISSION)))
    if unable:
        raise ReviewRefused(f"{', '.join(unable)} may not decide review items: give them the Reviewers role.")


def campaign_start(
    *,
    organization: Organization,
    name: str,
    groups: Iterable[Group],
    deadline: datetime,
    actor: Actor,
    reviewer: Any = None,
    fallback_reviewer: Any = None,
    external_only: bool = False,
    undecided: str = UndecidedOutcome.KEEP,
    max_revocations: int = 25,
    remind_days_before: int = 2,
    scope: str = ReviewScope.GROUPS,
    products: Iterable[Product] = (),
) -> ReviewCampaign:
    """Open a campaign with one item per what ``scope`` covers (review_scopes.candidates, per the
    mirror), each assigned to the named reviewer, else (groups only) the group's review owner, else
    the fallback. Refuses what :func:`campaign_check` refuses. Emails each reviewer once."""
    groups, products = list(groups), list(products)
    campaign_check(
        organization=organization,
        name=name,
        groups=groups,
        deadline=deadline,
        reviewer=reviewer,
        fallback_reviewer=fallback_reviewer,
        scope=scope,
        products=products,
    )
    owners = {o.group_id: o.user for o in GroupReviewOwner.objects.filter(group__in=groups).select_related("user")}
    found = review_scopes.candidates(
        organization=organization, scope=scope, groups=groups, products=products, external_only=external_only
    )
    with transaction.atomic():
        campaign = ReviewCampaign.objects.create(
            organization=organization,
            name=name.strip(),
            scope=scope,
            external_only=external_only,
            reviewer=reviewer,
            fallback_reviewer=fallback_reviewer,
            deadline=deadline,
            undecided=undecided,
            max_revocations=max_revocations,
            remind_days_before=remind_days_before,
            created_by=actor.user,
        )
        campaign.groups.set(groups)
        campaign.products.set(products)
        items = ReviewItem.objects.bulk_create(
            ReviewItem(
                campaign=campaign,
                account_id=c.account_id,
                group=c.group,
                product=c.product,
                reviewer=(
                    _reviewer_for(c.group, reviewer=reviewer, owners=owners, fallback=fallback_reviewer)
                    if c.group is not None
                    else reviewer or fallback_reviewer
                ),
            )
            for c in found
        )
        record_event(
            actor=actor,
            action=AuditAction.REVIEW_CAMPAIGN_STARTED,
            target=campaign,
            organization=organization.org_id,
            after={
                "scope": scope,
                "groups": sorted(g.name for g in groups),
                "products": sorted(str(p) for p in products),
                "items": len(items),
                "deadline": deadline.isoformat(),
                "undecided": undecided,
                "max_revocations": max_revocations,
                "external_only": external_only,
            },
        )
        transaction.on_commit(lambda: notify_reviewers(campaign, why="started"))
    return campaign


def review_link(campaign: ReviewCampaign) -> str:
    """The reviewer's own items of ``campaign`` (the admin shows a reviewer nothing else)."""
    return f"{settings.PORTAL_BASE_URL}/admin/policies/reviewitem/?campaign__id__exact={campaign.pk}"


def notify_reviewers(campaign: ReviewCampaign, *, why: str) -> int:
    """Email each reviewer with undecided items the link to them. Never raises: a failed email is
    logged and the campaign goes on (the items are on the reviewer's admin page regardless)."""
    open_items = campaign.items.filter(decision="")
    sent = 0
    for user in {item.reviewer for item in open_items.select_related("reviewer")}:
        if not user.email:
            continue
        count = open_items.filter(reviewer=user).count()
        subject = f"Access review {'reminder' if why == 'reminder' else 'to do'}: {campaign.name}"
        body = (
            f"You have {count} access review item(s) to decide in '{campaign.name}' "
            f"before {campaign.deadline:%Y-%m-%d %H:%M} UTC.\n\n{review_link(campaign)}\n"
        )
        try:
            send_mail(subject, body, None, [user.email])
            sent += 1
        except Exception:  # a mail failure must not undo the campaign
            log.warning("review email to reviewer %s failed", user.pk, exc_info=True)
    return sent


def _to_revoke(campaign: ReviewCampaign) -> QuerySet[ReviewItem]:
    revoke = Q(decision=ReviewDecision.REVOKE)
    if campaign.undecided == UndecidedOutcome.REVOKE:
        revoke |= Q(decision="")
    return campaign.items.filter(revoke)


def campaign_raise_cap(*, campaign: ReviewCampaign, max_revocations: int, actor: Actor, reason: str) -> None:
    """A person allows closing to remove up to ``max_revocations`` items (audited)."""
    if not reason.strip():
        raise ReviewRefused("Give a reason.")
    with transaction.atomic():
        locked = ReviewCampaign.objects.select_for_update().get(pk=campaign.pk)
        before = locked.max_revocations
        locked.max_revocations = max_revocations
        locked.save(update_fields=["max_revocations"])
        record_event(
            actor=actor,
            action=AuditAction.REVIEW_CAP_RAISED,
            target=locked,
            organization=locked.organization.org_id,
            reason=reason,
            before={"max_revocations": before},
            after={"max_revocations": max_revocations},
        )
    campaign.max_revocations = max_revocations


def campaign_close(*, campaign: ReviewCampaign, client: AtlassianClient, actor: Actor, reason: str = "") -> str:
    """Close ``campaign``: take revoked (and, per the setting, undecided) memberships away, keep
    the rest, record the outcome on each item. Idempotent: a closed campaign is left alone, and an
    item is claimed (outcome ``acting``) before its remote call, so a second close never sends it
    twice. Over the cap nothing is removed and the campaign halts. Returns the campaign's status."""
    with transaction.atomic():
        locked = ReviewCampaign.objects.select_for_update().select_related("organization").get(pk=campaign.pk)
        if locked.status == CampaignStatus.CLOSED:
            return locked.status
        due = _to_revoke(locked).filter(outcome=ItemOutcome.PENDING).count()
        if due > locked.max_revocations:
            note = f"{due} removals is more than the cap of {locked.max_revocations}; a person must raise the cap."
            if locked.status != CampaignStatus.HALTED or locked.status_note != note:
                locked.status, locked.status_note = CampaignStatus.HALTED, note
                locked.save(update_fields=["status", "status_note"])
                record_event(
                    actor=actor,
                    action=AuditAction.REVIEW_CAMPAIGN_HALTED,
                    target=locked,
                    organization=locked.organization.org_id,
                    reason=note,
                    after={"due": due, "max_revocations": locked.max_revocations},
                )
            campaign.status, campaign.status_note = locked.status, locked.status_note
            return locked.status
    why = reason.strip() or f"access review '{locked.name}'"
    for item in (
        _to_revoke(locked)
        .filter(outcome=ItemOutcome.PENDING)
        .select_related("account", "group", "product", "campaign__organization")
    ):
        _revoke(item, client=client, actor=actor, reason=why)
    now = timezone.now()
    with transaction.atomic():
        locked = ReviewCampaign.objects.select_for_update().select_related("organization").get(pk=campaign.pk)
        if locked.status == CampaignStatus.CLOSED:
            return locked.status
        kept = locked.items.filter(outcome=ItemOutcome.PENDING).update(outcome=ItemOutcome.KEPT, acted_at=now)
        outcomes = {o: locked.items.filter(outcome=o).count() for o in ItemOutcome.values if o}
        locked.status, locked.closed_at, locked.status_note = CampaignStatus.CLOSED, now, ""
        locked.save(update_fields=["status", "closed_at", "status_note"])
        record_event(
            actor=actor,
            action=AuditAction.REVIEW_CAMPAIGN_CLOSED,
            target=locked,
            organization=locked.organization.org_id,
            reason=reason,
            after={"kept": kept, **{k: v for k, v in outcomes.items() if v}},
        )
    campaign.status, campaign.closed_at = locked.status, locked.closed_at
    return locked.status


def _revoke(item: ReviewItem, *, client: AtlassianClient, actor: Actor, reason: str) -> None:
    # The claim: only one closer gets the row, so the remote call is sent at most once.
    if not ReviewItem.objects.filter(pk=item.pk, outcome=ItemOutcome.PENDING).update(outcome=ItemOutcome.ACTING):
        return
    outcome, detail, removed = review_scopes.revoke(item, client=client, actor=actor, reason=reason)
    # What was removed can be asked back: the nonce binds the link of the email telling the person.
    nonce = new_nonce() if outcome == ItemOutcome.REVOKED else ""
    ReviewItem.objects.filter(pk=item.pk).update(
        outcome=outcome, outcome_detail=detail, removed=removed, acted_at=timezone.now(), give_back_nonce=nonce
    )
    if outcome == ItemOutcome.REVOKED:
        item.outcome, item.give_back_nonce = outcome, nonce
        send_review_removed(item)  # never raises: a failed email is logged, the close goes on


def group_owner_set(*, group: Group, user: Any, actor: Actor) -> GroupReviewOwner:
    """Make ``user`` the reviewer of ``group``'s members in campaigns that name no reviewer (audited).
    Only someone who may decide review items can own a group's review."""
    if not (user.is_active and user.has_perm(DECIDE_PERMISSION)):
        raise ReviewRefused(f"{user} may not decide review items: give them the Reviewers role.")
    with transaction.atomic():
        owner = GroupReviewOwner.objects.select_for_update().filter(group=group).select_related("user").first()
        before = {"owner": str(owner.user)} if owner else {}
        if owner is None:
            owner = GroupReviewOwner.objects.create(group=group, user=user)
        elif owner.user_id == user.pk:
            return owner
        else:
            owner.user = user
            owner.save(update_fields=["user"])
        record_event(
            actor=actor,
            action=AuditAction.REVIEW_OWNER_SET,
            target=owner,
            organization=group.organization.org_id,
            before=before,
            after={"group": group.name, "owner": str(user)},
        )
    return owner


def group_owner_remove(*, owner: GroupReviewOwner, actor: Actor) -> None:
    """The group has no review owner any more: later campaigns use their fallback (audited)."""
    with transaction.atomic():
        record_event(
            actor=actor,
            action=AuditAction.REVIEW_OWNER_REMOVED,
            target=owner,
            organization=owner.group.organization.org_id,
            before={"group": owner.group.name, "owner": str(owner.user)},
        )
        owner.delete()


def evidence_exported(*, campaign: ReviewCampaign, actor: Actor, via: str) -> None:
    """Record that someone downloaded ``campaign``'s evidence (``via``: the admin or the API)."""
    record_event(
        actor=actor,
        action=AuditAction.REVIEW_EVIDENCE_EXPORTED,
        target=campaign,
        organization=campaign.organization.org_id,
        after={"export": "access review evidence", "via": via, "items": campaign.items.count()},
    )
