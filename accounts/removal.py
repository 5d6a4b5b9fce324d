"""Feeding :mod:`accounts.plans` from the mirror: for one account, or for many at once (the
policy preview, the bulk confirmation page, a policy run's counts) in a few queries per 500."""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from accounts.models import GroupProductGrant, Membership, Product, ProductAccess, ProductGrant
from accounts.plans import SITE_ADMIN_GROUPS, DirectRoles, Grant, GroupGrants, ProductRef, RemovalPlan
from accounts.plans import plan_product_removal as _plan

_CHUNK = 500  # bounded IN lists (SQLite's parameter limit; DJANGO-NOTES 4)


def product_ref(product: Product) -> ProductRef:
    return ProductRef(resource_id=product.resource_id, key=product.key, name=product.name or product.key)


def removal_plans(
    account_pks: Iterable[int],
    products: Sequence[Product] | None,
    *,
    remove_shared: bool = False,
    direct_roles: dict[int, dict[str, tuple[str, ...]]] | None = None,
) -> dict[int, RemovalPlan]:
    """``{account pk: plan}`` for taking ``products`` from each account (None: every product the
    account holds). Three queries per 500 accounts.

    ``direct_roles``: ``{account pk: {resource ARI: roles held directly}}`` as Atlassian's role
    assignments say (read right before acting): the plan then revokes exactly those roles, and
    none on a product the account holds through groups only."""
    pks = sorted(set(account_pks))
    scoped = [product_ref(p) for p in products] if products is not None else None
    plans: dict[int, RemovalPlan] = {}
    for start in range(0, len(pks), _CHUNK):
        chunk = pks[start : start + _CHUNK]
        groups = _licence_groups(chunk)
        held, direct = _access(chunk, None if products is None else [p.pk for p in products])
        for pk in chunk:
            if direct_roles and pk in direct_roles:  # Atlassian's word replaces the mirror's guess
                known = direct_roles[pk]
                direct[pk] = [DirectRoles(resource, tuple(roles)) for resource, roles in sorted(known.items()) if roles]
        for pk in chunk:
            plans[pk] = _plan(
                scoped if scoped is not None else held.get(pk, []),
                groups.get(pk, ()),
                direct.get(pk, ()),
                remove_shared=remove_shared,
            )
    return plans


def _licence_groups(account_pks: list[int]) -> dict[int, list[GroupGrants]]:
    """Each account's groups that grant something, with their grants (two queries)."""
    members: dict[int, list[int]] = defaultdict(list)
    for account_pk, group_pk in (
        Membership.objects.filter(account_id__in=account_pks, group__grants__isnull=False)
        .values_list("account_id", "group_id")
        .order_by()
        .distinct()
    ):
        members[account_pk].append(group_pk)
    rows = GroupProductGrant.objects.filter(group_id__in={g for gs in members.values() for g in gs}).values_list(
        "group_id",
        "group__group_id",
        "group__name",
        "group__external_synced",
        "product__resource_id",
        "product__key",
        "product__name",
        "roles",
    )
    described: dict[int, tuple] = {}
    grants: dict[int, list[Grant]] = defaultdict(list)
    for group_pk, group_id, name, synced, resource_id, key, product_name, roles in rows.order_by():
        described[group_pk] = (group_id, name, synced)
        grants[group_pk].append(Grant(ProductRef(resource_id, key, product_name or key), tuple(roles or ())))
    groups = {
        pk: GroupGrants(
            group_id=group_id,
            name=name,
            grants=tuple(grants[pk]),
            external_synced=synced,
            site_admin=name.lower() in SITE_ADMIN_GROUPS,
        )
        for pk, (group_id, name, synced) in described.items()
    }
    return {account: [groups[g] for g in gs if g in groups] for account, gs in members.items()}


def _access(account_pks: list[int], product_pks: list[int] | None):
    """Each account's products (its scope when none is given) and its direct roles (one query).

    The mirror records that a product is granted directly but not the role's name, so the plan
    falls back to the billable product role (plans.DEFAULT_DIRECT_ROLE); a caller about to act
    passes the roles Atlassian lists (``removal_plans(direct_roles=...)``), which replace these.
    """
    rows = ProductAccess.objects.filter(account_id__in=account_pks)
    if product_pks is not None:
        rows = rows.filter(product_id__in=product_pks)
    held: dict[int, list[ProductRef]] = defaultdict(list)
    direct: dict[int, list[DirectRoles]] = defaultdict(list)
    for account_pk, resource_id, key, name, granted in rows.values_list(
        "account_id", "product__resource_id", "product__key", "product__name", "granted"
    ).order_by():
        held[account_pk].append(ProductRef(resource_id, key, name or key))
        if granted == ProductGrant.DIRECT:
            direct[account_pk].append(DirectRoles(resource_id))
    return held, direct


@dataclass
class RemovalSummary:
    """What "remove product access" would do to a selection, for one product."""

    product: Product
    holders: int  # selected accounts holding the product
    frees: int  # of them, whose seat the plan frees
    needs_review: list[tuple[int, str]]  # (account pk, why) left alone for a person's decision


def removal_summaries(account_pks: Iterable[int]) -> list[RemovalSummary]:
    """Per product the selected accounts hold: how many seats removing it frees, and who would be
    left alone (and why). A few queries per product and 500 accounts."""
    holders: dict[int, list[int]] = defaultdict(list)
    pks = sorted(set(account_pks))
    for start in range(0, len(pks), _CHUNK):
        rows = ProductAccess.objects.filter(account_id__in=pks[start : start + _CHUNK])
        for account_pk, product_pk in rows.values_list("account_id", "product_id").order_by():
            holders[product_pk].append(account_pk)
    summaries = []
    for product in Product.objects.filter(pk__in=list(holders)).order_by("name", "key"):
        plans = removal_plans(holders[product.pk], [product])
        summaries.append(
            RemovalSummary(
                product=product,
                holders=len(holders[product.pk]),
                frees=sum(1 for plan in plans.values() if plan.frees_seats),
                needs_review=sorted((pk, plan.blocked) for pk, plan in plans.items() if plan.blocked),
            )
        )
    return summaries
