"""Group membership and product access changes in Atlassian, mirrored and audited."""

from django.db import transaction
from django.db.models import F

from accounts.models import Account, Group, Membership, Product, ProductAccess
from accounts.services.errors import ServiceRefused
from accounts.services.remote import perform
from governance.audit.models import AuditAction
from governance.audit.record import Actor


def _refuse_synced(group: Group) -> None:
    if group.external_synced:
        raise ServiceRefused(
            f"{group} is synced from an identity provider; change its members in the identity provider."
        )


def _membership_target(account: Account, group: Group) -> dict:
    return {
        "target_type": "accounts.membership",
        "target_id": f"{account.account_id}:{group.group_id}",
        "target_repr": f"{account} in {group}",
    }


def membership_add(
    *, account: Account, group: Group, client, actor: Actor, reason: str, correlation_id: str = ""
) -> Account:
    _refuse_synced(group)

    def mirror(locked: Account) -> dict:
        _, created = Membership.objects.get_or_create(account=locked, group=group)
        if created:
            Group.objects.filter(pk=group.pk).update(member_count=F("member_count") + 1)
            if group.is_licence_group:
                locked.licence_group_count += 1
                return {"licence_group_count": locked.licence_group_count}
        return {}

    return perform(
        account=account,
        actor=actor,
        action=AuditAction.MEMBERSHIP_ADDED,
        reason=reason,
        correlation_id=correlation_id,
        target_fields=_membership_target(account, group),
        after={"group": group.name},
        remote=lambda: client.group_membership_add(
            group.group_id, account.account_id, directory_id=group.directory_id or None
        ),
        mirror=mirror,
    )


def membership_remove(
    *,
    account: Account,
    group: Group,
    client,
    actor: Actor,
    reason: str,
    correlation_id: str = "",
    allow_org_admin: bool = False,
) -> Account:
    _refuse_synced(group)
    if account.is_org_admin and group.is_licence_group and not allow_org_admin:
        raise ServiceRefused(f"{account} is an organization admin; the portal does not take org admins' licences.")

    def mirror(locked: Account) -> dict:
        deleted, _ = Membership.objects.filter(account=locked, group=group).delete()
        if deleted:
            Group.objects.filter(pk=group.pk, member_count__gt=0).update(member_count=F("member_count") - 1)
            if group.is_licence_group and locked.licence_group_count:
                return {"licence_group_count": locked.licence_group_count - 1}
        return {}

    return perform(
        account=account,
        actor=actor,
        action=AuditAction.MEMBERSHIP_REMOVED,
        reason=reason,
        correlation_id=correlation_id,
        target_fields=_membership_target(account, group),
        before={"group": group.name},
        remote=lambda: client.group_membership_remove(
            group.group_id, account.account_id, directory_id=group.directory_id or None
        ),
        mirror=mirror,
    )


def product_access_remove(
    *,
    account: Account,
    products: list[Product],
    client,
    actor: Actor,
    reason: str,
    correlation_id: str = "",
    allow_org_admin: bool = False,
) -> dict:
    """Take ``products`` away: leave every editable licence group granting them, revoke direct roles.

    Returns exactly what was removed, ``{"groups": [group_id, ...], "roles": [{"role", "resource"}]}``,
    so it can be given back. Refuses (before any change) when an IdP-synced group grants a product:
    the access could not really be removed.
    """
    if account.is_org_admin and not allow_org_admin:
        raise ServiceRefused(f"{account} is an organization admin; the portal does not take org admins' access.")
    product_pks = {p.pk for p in products}
    granting = list(
        Group.objects.filter(memberships__account=account, grants__product__in=product_pks).distinct().order_by("name")
    )
    synced = [g.name for g in granting if g.external_synced]
    if synced:
        raise ServiceRefused(
            f"{account} gets this access from identity-provider groups ({', '.join(synced)}); remove them there."
        )
    removed: dict = {"groups": [], "roles": []}
    for group in granting:
        membership_remove(
            account=account,
            group=group,
            client=client,
            actor=actor,
            reason=reason,
            correlation_id=correlation_id,
            allow_org_admin=allow_org_admin,
        )
        removed["groups"].append(group.group_id)
    direct = ProductAccess.objects.filter(account=account, product__in=product_pks, granted="direct").select_related(
        "product"
    )
    for access in direct:
        role = {"role": "atlassian/user", "resource": access.product.resource_id}
        perform(
            account=account,
            actor=actor,
            action=AuditAction.ROLE_REVOKED,
            reason=reason,
            correlation_id=correlation_id,
            after=role,
            remote=lambda r=role: client.user_role_revoke(account.account_id, role=r["role"], resource=r["resource"]),
        )
        removed["roles"].append(role)
    with transaction.atomic():
        ProductAccess.objects.filter(account=account, product__in=product_pks).delete()
    return removed


def product_access_restore(
    *, account: Account, removed: dict, client, actor: Actor, reason: str, correlation_id: str = ""
) -> None:
    """Give back what :func:`product_access_remove` took: the same groups and roles. Idempotent."""
    groups = Group.objects.filter(organization=account.organization, group_id__in=removed.get("groups", []))
    present = set(Membership.objects.filter(account=account, group__in=groups).values_list("group_id", flat=True))
    for group in groups:
        if group.pk not in present:
            membership_add(
                account=account, group=group, client=client, actor=actor, reason=reason, correlation_id=correlation_id
            )
    for role in removed.get("roles", []):
        perform(
            account=account,
            actor=actor,
            action=AuditAction.ROLE_ASSIGNED,
            reason=reason,
            correlation_id=correlation_id,
            after=role,
            remote=lambda r=role: client.user_role_assign(account.account_id, role=r["role"], resource=r["resource"]),
        )
