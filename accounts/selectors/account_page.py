"""What the account page shows besides its fields: product access, groups, why the account takes
a seat, and its audit trail. A fixed handful of queries, whatever the account's history."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import Q, QuerySet

from accounts.models import (
    AccessEndStatus,
    Account,
    AccountStatus,
    AccountType,
    Group,
    GroupProductGrant,
    Membership,
    MembershipEnd,
    Product,
    ProductAccess,
    ProductGrant,
)
from governance.audit.models import AuditEvent

AUDIT_TRAIL_LIMIT = 50


@dataclass
class ProductRow:
    access: ProductAccess
    groups: list[Group] = field(default_factory=list)  # licence groups of this account granting the product

    @property
    def direct(self) -> bool:
        return self.access.granted == ProductGrant.DIRECT


@dataclass
class GroupRow:
    membership: Membership
    products: list[Product] = field(default_factory=list)
    expires_at: datetime | None = None  # given until then (accounts/models/ends.py)


def account_details(
    account: Account, *, with_audit_trail: bool = True, audit_limit: int = AUDIT_TRAIL_LIMIT
) -> dict[str, Any]:
    memberships = list(Membership.objects.filter(account=account).select_related("group").order_by("group__name"))
    grants = list(
        GroupProductGrant.objects.filter(group__in=[m.group_id for m in memberships]).select_related("product")
    )
    products_by_group: dict[int, list[Product]] = {}
    groups_by_product: dict[int, list[Group]] = {}
    groups = {m.group_id: m.group for m in memberships}
    for grant in grants:
        products_by_group.setdefault(grant.group_id, []).append(grant.product)
        groups_by_product.setdefault(grant.product_id, []).append(groups[grant.group_id])
    product_rows = [
        ProductRow(access=access, groups=groups_by_product.get(access.product_id, []))
        for access in account.product_access.select_related("product").order_by("product__name", "product__key")
    ]
    ends = dict(
        MembershipEnd.objects.filter(account=account, status=AccessEndStatus.SCHEDULED).values_list(
            "group_id", "expires_at"
        )
    )
    return {
        "product_rows": product_rows,
        "group_rows": [GroupRow(m, products_by_group.get(m.group_id, []), ends.get(m.group_id)) for m in memberships],
        "access_until": min(ends.values(), default=None),
        "billable_reasons": billable_reasons(account, product_rows),
        "audit_trail": list(audit_trail(account)[:audit_limit]) if with_audit_trail else [],
        "audit_limit": audit_limit,
    }


def billable_reasons(account: Account, product_rows: list[ProductRow]) -> list[str]:
    """Plain sentences: which groups or direct roles make this account take which product seat."""
    if not account.billable:
        if account.status != AccountStatus.ACTIVE:
            return [f"Not billable: the account is {account.get_status_display().lower()}."]
        if account.account_type != AccountType.ATLASSIAN:
            return [f"Not billable: {account.get_account_type_display().lower()} accounts take no seat."]
        return ["Not billable: Atlassian reports no product seat for this account."]
    reasons = []
    for row in product_rows:
        product = row.access.product
        if row.groups:
            names = ", ".join(g.name for g in row.groups)
            reasons.append(f"{product}: a seat through the group{'s' if len(row.groups) > 1 else ''} {names}.")
        if row.direct:
            reasons.append(f"{product}: a seat through a role given directly to the account.")
        if not row.groups and not row.direct:
            reasons.append(f"{product}: a seat, granted in a way the last sync could not tell.")
    return reasons or ["Billable, but the mirror holds no product access for it yet (next sync)."]


def audit_trail(account: Account) -> QuerySet[AuditEvent]:
    """Events about the account itself and about its memberships (``<account_id>:<group_id>``)."""
    prefix = f"{account.account_id}:"
    memberships = Q(target_type="accounts.membership", target_id__startswith=prefix)
    if connection.vendor == "sqlite":
        # SQLite's LIKE is case-insensitive and cannot use the (target_type, target_id) index;
        # a range in the column's BINARY collation can. ':' + 1 is ';'. (Not on PostgreSQL, where
        # a linguistic collation may order punctuation differently and startswith has its own index.)
        memberships &= Q(target_id__gte=prefix, target_id__lt=f"{account.account_id};")
    itself = Q(target_type="accounts.account", target_id=str(account.pk))
    return AuditEvent.objects.filter(itself | memberships).order_by("-seq")
