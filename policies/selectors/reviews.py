"""Reads of access review campaigns for the admin, the API and the dashboard: who may be named a
reviewer, each campaign's progress, and the evidence rows auditors download."""

from collections.abc import Iterator
from typing import Any

from django.contrib.auth.models import Permission, User
from django.db.models import Count, Q, QuerySet

from policies.models import CampaignStatus, ItemOutcome, ReviewCampaign, ReviewDecision, ReviewItem, ReviewScope

EVIDENCE_HEADER = (
    "campaign",
    "scope",
    "access",
    "account_id",
    "account_email",
    "account_name",
    "reviewer",
    "decision",
    "decided_at",
    "reason",
    "action_carried_out",
    "action_detail",
    "acted_at",
)


def reviewer_candidates() -> QuerySet[User]:
    """Active users who may decide review items (the Reviewers role, a direct grant, superusers)."""
    perm = Permission.objects.filter(content_type__app_label="policies", codename="decide_reviewitem")
    holders = Q(groups__permissions__in=perm) | Q(user_permissions__in=perm) | Q(is_superuser=True)
    return User.objects.filter(holders, is_active=True).distinct().order_by("username")


def with_progress(campaigns: QuerySet[ReviewCampaign]) -> QuerySet[ReviewCampaign]:
    """``campaigns`` annotated with ``n_items``, ``n_decided`` and ``n_revoke`` (decided revoke)."""
    return campaigns.annotate(
        n_items=Count("items"),
        n_decided=Count("items", filter=~Q(items__decision="")),
        n_revoke=Count("items", filter=Q(items__decision=ReviewDecision.REVOKE)),
    )


def dashboard_progress(items: QuerySet[ReviewItem]) -> list[dict[str, Any]]:
    """Progress of the campaigns not closed yet, over ``items`` (all of them, or a reviewer's own):
    ``[{"id", "name", "status", "deadline", "items", "decided", "percent"}]``, nearest deadline first."""
    rows = (
        items.exclude(campaign__status=CampaignStatus.CLOSED)
        .values("campaign_id", "campaign__name", "campaign__status", "campaign__deadline")
        .annotate(total=Count("id"), decided=Count("id", filter=~Q(decision="")))
        .order_by("campaign__deadline", "campaign_id")
    )
    return [
        {
            "id": row["campaign_id"],
            "name": row["campaign__name"],
            "status": CampaignStatus(row["campaign__status"]).label,
            "halted": row["campaign__status"] == CampaignStatus.HALTED,
            "deadline": row["campaign__deadline"],
            "items": row["total"],
            "decided": row["decided"],
            "percent": round(100 * row["decided"] / row["total"]) if row["total"] else 100,
        }
        for row in rows
    ]


def evidence_rows(campaign: ReviewCampaign) -> Iterator[tuple[str, ...]]:
    """One row per item of ``campaign`` (``EVIDENCE_HEADER``): the scope, the access reviewed (a
    group, a product, the organization admin role or the account's access to the organization),
    who decided what, when, why, and what was carried out at close. Undecided items say so; an open
    campaign's action is pending."""
    items = (
        campaign.items.select_related("campaign", "account", "group", "product", "reviewer")
        .order_by("group__name", "product__key", "account__email", "pk")
        .iterator(chunk_size=2000)
    )
    scope = ReviewScope(campaign.scope).label
    outcomes = dict(ItemOutcome.choices)
    decisions = dict(ReviewDecision.choices)
    for item in items:
        yield (
            campaign.name,
            scope,
            item.access,
            item.account.account_id,
            item.account.email or "",
            item.account.name or "",
            item.reviewer.get_username(),
            decisions.get(item.decision, "undecided") if item.decision else "undecided",
            item.decided_at.isoformat() if item.decided_at else "",
            item.reason,
            outcomes.get(item.outcome, item.outcome),
            item.outcome_detail,
            item.acted_at.isoformat() if item.acted_at else "",
        )
