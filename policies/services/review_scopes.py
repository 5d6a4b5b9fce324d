"""What each access review scope covers, and what revoking (and giving back) one of its items does.

- groups: one item per membership of a chosen group. Revoke: leave the group
  (``membership_remove``). Give back: ``membership_add``.
- products: one item per account holding a chosen product. Revoke: the product-access service
  (``product_access_plan``/``product_access_remove``: the groups granting nothing but that product,
  and the direct roles; a group that grants more waits for a person, DESIGN.md 5.9, and the item
  fails with the reason). What it took is kept on the item. Give back: ``product_access_restore``
  of exactly that.
- external: one item per external account active in the organization. Revoke: suspend (frees the
  seat, keeps groups and roles). Give back: ``account_restore`` (lifts the suspension).
- org_admins: one item per organization admin. Revoke: handed to a person, to be done by hand in
  Atlassian. Nothing to give back: nothing was taken.

Organization admins: the Admin API's org-level role revoke is documented as experimental and
eventually consistent (up to 30 s), answers 204 to a revoke that matched nothing, and cannot take a
role that comes through an admin group, so the portal could neither do it reliably nor confirm it
(DESIGN.md 5.10); suspending or removing the account would take far more than the role. So revoking
an admin's role is recorded, audited (``review.handed_off``) and shown as "to be done by hand in
Atlassian" in the evidence; the portal never pretends it was done.

Every remote change goes through the accounts services (the per-account lock, the read-back, one
audit event each).
"""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from accounts.models import Account, AccountStatus, AccountType, Group, Membership, Organization, Product, ProductAccess
from accounts.services.errors import ServiceRefused
from accounts.services.lifecycle import account_restore, account_suspend
from accounts.services.memberships import (
    membership_add,
    membership_remove,
    product_access_plan,
    product_access_remove,
    product_access_restore,
)
from governance.atlassian.client import AtlassianClient
from governance.atlassian.errors import AtlassianError
from governance.audit.models import AuditAction
from governance.audit.record import Actor, record_event
from policies.models import ItemOutcome, ReviewItem, ReviewScope

# What revoking one item came to: (ItemOutcome, detail for the evidence, what was taken).
Outcome = tuple[str, str, dict[str, Any]]


@dataclass(frozen=True)
class Candidate:
    """One item a scope covers: the account, and the group or product reviewed (else neither)."""

    account_id: int
    group: Group | None = None
    product: Product | None = None


def _external(accounts: QuerySet[Any], field: str = "") -> QuerySet[Any]:
    # External: not claimed by the organization (no verified domain); app accounts are no people.
    return accounts.filter(**{f"{field}managed": False}).exclude(**{f"{field}account_type": AccountType.APP})


def candidates(
    *,
    organization: Organization,
    scope: str,
    groups: list[Group],
    products: list[Product],
    external_only: bool,
) -> Iterator[Candidate]:
    """What a campaign over ``scope`` reviews, per the mirror, optionally external accounts only."""
    if scope == ReviewScope.GROUPS:
        memberships = Membership.objects.filter(group__in=groups).select_related("group")
        if external_only:
            memberships = _external(memberships, "account__")
        for m in memberships.order_by("group__name", "account_id"):
            yield Candidate(m.account_id, group=m.group)
    elif scope == ReviewScope.PRODUCTS:
        holders = ProductAccess.objects.filter(product__in=products).exclude(
            account__status__in=(AccountStatus.REMOVED, AccountStatus.NOT_IN_DIRECTORY)
        )
        if external_only:
            holders = _external(holders, "account__")
        for access in holders.select_related("product").order_by("product_id", "account_id"):
            yield Candidate(access.account_id, product=access.product)
    else:
        accounts = Account.objects.filter(organization=organization)
        if scope == ReviewScope.ORG_ADMINS:
            accounts = accounts.filter(is_org_admin=True).exclude(status=AccountStatus.REMOVED)
            if external_only:
                accounts = _external(accounts)
        else:  # external: those the organization can still suspend
            accounts = _external(accounts.filter(status=AccountStatus.ACTIVE))
        for pk in accounts.order_by("pk").values_list("pk", flat=True):
            yield Candidate(pk)


def revoke(item: ReviewItem, *, client: AtlassianClient, actor: Actor, reason: str) -> Outcome:
    """Take away what ``item`` reviews; ``(outcome, detail, removed)``. A refusal or an Atlassian
    error is the outcome ``failed`` with its message (each service recorded its own audit event)."""
    correlation = f"review-{item.campaign_id}"
    scope = item.campaign.scope
    try:
        if scope == ReviewScope.ORG_ADMINS:
            return _hand_off(item, actor=actor, reason=reason, correlation_id=correlation)
        if scope == ReviewScope.PRODUCTS:
            return _revoke_product(item, client=client, actor=actor, reason=reason, correlation_id=correlation)
        if scope == ReviewScope.EXTERNAL:
            account = item.account
            if account.status != AccountStatus.ACTIVE:
                return ItemOutcome.ALREADY_GONE, f"already {account.get_status_display().lower()} at close", {}
            account_suspend(account=account, client=client, actor=actor, reason=reason, correlation_id=correlation)
            return ItemOutcome.REVOKED, "suspended in the organization", {"suspended": True}
        assert item.group is not None
        if not Membership.objects.filter(account=item.account, group=item.group).exists():
            return ItemOutcome.ALREADY_GONE, "no longer a member at close", {}
        membership_remove(
            account=item.account,
            group=item.group,
            client=client,
            actor=actor,
            reason=reason,
            correlation_id=correlation,
        )
        return ItemOutcome.REVOKED, "", {"groups": [item.group.group_id]}
    except (ServiceRefused, AtlassianError) as exc:
        return ItemOutcome.FAILED, str(exc), {}


def _revoke_product(
    item: ReviewItem, *, client: AtlassianClient, actor: Actor, reason: str, correlation_id: str
) -> Outcome:
    product = item.product
    assert product is not None
    if not ProductAccess.objects.filter(account=item.account, product=product).exists():
        return ItemOutcome.ALREADY_GONE, f"no longer holds {product} at close", {}
    # Only the groups granting nothing but this product, and the direct roles read from Atlassian:
    # a group that grants more makes the plan wait for a person (NeedsDecision, reported as failed).
    plan = product_access_plan(account=item.account, products=[product], client=client)
    removed = product_access_remove(
        account=item.account, plan=plan, client=client, actor=actor, reason=reason, correlation_id=correlation_id
    )
    return ItemOutcome.REVOKED, "", removed


def _hand_off(item: ReviewItem, *, actor: Actor, reason: str, correlation_id: str) -> Outcome:
    detail = (
        f"Remove the organization admin role of {item.account} by hand in Atlassian administration "
        "(admin.atlassian.com, Directory, Users): the portal does not change admin roles."
    )
    record_event(
        actor=actor,
        action=AuditAction.REVIEW_HANDED_OFF,
        target=item,
        organization=item.campaign.organization.org_id,
        reason=reason,
        correlation_id=correlation_id,
        after={"account": item.account.account_id, "role": "atlassian/org-admin", "to_do": detail},
    )
    return ItemOutcome.HANDED_OFF, detail, {}


def give_back(item: ReviewItem, *, client: AtlassianClient, actor: Actor, reason: str) -> None:
    """Restore exactly what :func:`revoke` took from ``item`` (raises the service's refusal or
    Atlassian's error: nothing is then marked given back)."""
    correlation = f"review-{item.campaign_id}"
    scope = item.campaign.scope
    if scope == ReviewScope.PRODUCTS:
        product_access_restore(
            account=item.account,
            removed=item.removed,
            client=client,
            actor=actor,
            reason=reason,
            correlation_id=correlation,
        )
    elif scope == ReviewScope.EXTERNAL:
        account_restore(account=item.account, client=client, actor=actor, reason=reason, correlation_id=correlation)
    elif scope == ReviewScope.GROUPS:
        assert item.group is not None
        membership_add(
            account=item.account,
            group=item.group,
            client=client,
            actor=actor,
            reason=reason,
            correlation_id=correlation,
        )
    else:  # nothing was taken: the admin role was handed to a person
        raise ServiceRefused("The portal took nothing from this organization admin; nothing to give back.")
