"""Figures about policies for the admin index: the seats enabled policies would free soon."""

from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

from django.http import HttpRequest
from django.utils import timezone

from accounts.models import Organization, Product, ProductAccess
from accounts.selectors.prices import MONTHS_PER_YEAR, Savings, saving_lines, seat_prices
from policies.engine import Verdict
from policies.models import (
    AccessRequest,
    Enforcement,
    EnforcementStatus,
    GiveBackStatus,
    InactivityPolicy,
    PolicyAction,
    PolicyMode,
    ReviewItem,
)
from policies.models.access_requests import AccessRequestStatus
from policies.selectors.snapshots import AccountData, shared_account_data
from policies.services.runs import blocked_removals, evaluate

HORIZON_DAYS = 30
_CHUNK = 500  # bounded IN lists (SQLite's parameter limit; DJANGO-NOTES 4)


def products_held(account_pks: Iterable[int], product_pks: Iterable[int] = ()) -> Iterator[tuple[int, int]]:
    """``(account pk, product pk)`` for the product access these accounts hold, limited to
    ``product_pks`` when given (empty: every product). One query per 500 accounts."""
    pks = sorted(set(account_pks))
    products = list(product_pks)
    for start in range(0, len(pks), _CHUNK):
        rows = ProductAccess.objects.filter(account_id__in=pks[start : start + _CHUNK])
        if products:
            rows = rows.filter(product_id__in=products)
        yield from rows.values_list("account_id", "product_id")


def policy_seat_savings(
    organization: Organization | None = None, *, now: datetime | None = None, horizon_days: int = HORIZON_DAYS
) -> list[dict[str, Any]]:
    """Seats per product that the enabled policies would free within ``horizon_days``.

    Counts every account an enabled policy would warn or act on by then (its ACT and WARN
    decisions at ``now + horizon_days``) once per product it holds among the policy's scoped
    products (all products when the policy names none), except product removals whose product
    comes through a group that grants more (they wait for a decision). An account two policies
    would act on counts once. Notify-only policies free nothing.

    Policies that act (enforce, or review: acted on once approved) are counted apart from those
    still in preview, which free nothing until someone enforces them: ``seats`` is the former,
    ``preview_seats`` what the preview policies would add on top (accounts no acting policy takes).

    Returns ``[{"product", "product_key", "organization", "seats", "preview_seats", "price",
    "saving_month", "saving_year", "preview_saving_month", "preview_saving_year"}]``, most seats
    first; ``price`` is the product's price per seat per month (None: none set, and the savings are
    None too). One evaluation per enabled policy: cache the result if the index shows it.
    """
    at = (now or timezone.now()) + timedelta(days=horizon_days)
    policies = InactivityPolicy.objects.filter(enabled=True).exclude(action=PolicyAction.NOTIFY)
    if organization is not None:
        policies = policies.filter(organization=organization)
    acting: dict[int, set[int]] = defaultdict(set)
    previewed: dict[int, set[int]] = defaultdict(set)
    selected = list(policies.select_related("organization").prefetch_related("products"))
    shared = shared_account_data(selected, at)  # the accounts read once per organization
    for policy in selected:
        freed = previewed if policy.mode == PolicyMode.PREVIEW else acting
        for account_pk, product_pk in _seats_freed(policy, at, shared.get(policy.organization_id)):
            freed[product_pk].add(account_pk)
    products = Product.objects.filter(pk__in=[*acting, *previewed]).select_related("organization")
    prices = seat_prices(product.pk for product in products)
    rows = []
    for product in products:
        seats, preview_seats = len(acting[product.pk]), len(previewed[product.pk] - acting[product.pk])
        price = prices.get(product.pk)
        monthly = price.monthly if price else None
        rows.append(
            {
                "product": product.name or product.key,
                "product_key": product.key,
                "organization": product.organization.org_id,
                "seats": seats,
                "preview_seats": preview_seats,
                "price": price,
                "saving_month": None if monthly is None else monthly * seats,
                "saving_year": None if monthly is None else monthly * seats * MONTHS_PER_YEAR,
                "preview_saving_month": None if monthly is None else monthly * preview_seats,
                "preview_saving_year": None if monthly is None else monthly * preview_seats * MONTHS_PER_YEAR,
            }
        )
    return sorted(rows, key=lambda row: (-row["seats"], -row["preview_seats"], row["product"]))


def savings_totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The rows of :func:`policy_seat_savings` added up per currency (never across currencies):
    ``{"acting": [SavingLine], "preview": [SavingLine], "unpriced": [product names]}``."""
    acting, preview = Savings(), Savings()
    for row in rows:
        acting.add(row["price"], row["seats"], row["product"])
        preview.add(row["price"], row["preview_seats"], row["product"])
    return {
        "acting": saving_lines(acting),
        "preview": saving_lines(preview),
        "unpriced": sorted(acting.unpriced | preview.unpriced),
    }


def _seats_freed(policy: InactivityPolicy, at: datetime, shared: AccountData | None) -> Iterator[tuple[int, int]]:
    """``(account pk, product pk)`` of the seats ``policy`` would free by ``at``."""
    evaluation = evaluate(policy, at, shared=shared)
    accounts = [d.account_pk for d in evaluation.decisions if d.verdict in (Verdict.ACT, Verdict.WARN)]
    # A product removal that waits for a decision frees nothing (DESIGN.md 5.9).
    blocked = blocked_removals(policy, accounts)
    accounts = [pk for pk in accounts if pk not in blocked]
    return products_held(accounts, [p.pk for p in policy.products.all()])


def pending_access_requests(request: HttpRequest) -> int | None:
    """Access requests waiting for a decision, for those who may see them (None for others);
    counted once per request (the menu asks on every admin page, the dashboard again)."""
    if not request.user.has_perm("policies.view_accessrequest"):
        return None
    count: int | None = getattr(request, "_portal_pending_access_requests", None)
    if count is None:
        count = AccessRequest.objects.filter(status=AccessRequestStatus.PENDING).count()
        setattr(request, "_portal_pending_access_requests", count)  # noqa: B010 - not a declared attribute
    return count


def waiting_for_a_decision(request: HttpRequest) -> dict[str, int] | None:
    """The dashboard's "waiting for you": pending access requests, the enforcement review queue and
    requests to give back what an access review removed, each for those who may see it; None when
    the user may see none of them."""
    waiting: dict[str, int] = {}
    requests = pending_access_requests(request)
    if requests is not None:
        waiting["access_requests"] = requests
    if request.user.has_perm("policies.view_enforcement"):
        waiting["review_queue"] = Enforcement.objects.filter(status=EnforcementStatus.AWAITING_REVIEW).count()
    if request.user.has_perm("policies.restore_reviewitem"):
        # People asking for what an access review removed (the removal email's link).
        waiting["review_give_backs"] = ReviewItem.objects.filter(give_back_status=GiveBackStatus.REQUESTED).count()
    return waiting or None
