"""Figures about policies for the admin index: the seats enabled policies would free soon."""

from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from accounts.models import Organization, Product, ProductAccess
from policies.engine import Verdict
from policies.models import InactivityPolicy, PolicyAction
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
    would act on counts once. Notify-only policies free nothing. Whatever the mode: a preview policy's
    figures are what it would free once enforced.

    Returns ``[{"product": name, "product_key": key, "organization": org id, "seats": n}]``,
    most seats first. One evaluation per enabled policy: cache the result if the index shows it.
    """
    at = (now or timezone.now()) + timedelta(days=horizon_days)
    policies = InactivityPolicy.objects.filter(enabled=True).exclude(action=PolicyAction.NOTIFY)
    if organization is not None:
        policies = policies.filter(organization=organization)
    freed: dict[int, set[int]] = defaultdict(set)
    for policy in policies.select_related("organization").prefetch_related("products"):
        evaluation = evaluate(policy, at)
        accounts = [d.account_pk for d in evaluation.decisions if d.verdict in (Verdict.ACT, Verdict.WARN)]
        # A product removal that waits for a decision frees nothing (DESIGN.md 5.9).
        blocked = blocked_removals(policy, accounts)
        accounts = [pk for pk in accounts if pk not in blocked]
        scope = [p.pk for p in policy.products.all()]
        for account_pk, product_pk in products_held(accounts, scope):
            freed[product_pk].add(account_pk)
    products = Product.objects.filter(pk__in=list(freed)).select_related("organization")
    rows = [
        {
            "product": product.name or product.key,
            "product_key": product.key,
            "organization": product.organization.org_id,
            "seats": len(freed[product.pk]),
        }
        for product in products
    ]
    return sorted(rows, key=lambda row: (-row["seats"], row["product"]))
