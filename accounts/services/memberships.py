"""Group membership and product access changes in Atlassian, mirrored and audited."""

import functools
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import F

from accounts.models import Account, Group, Membership, Product, ProductAccess
from accounts.removal import removal_plans
from accounts.services.account_lock import changes_account
from accounts.services.end_schedule import end_schedule
from accounts.services.errors import ServiceRefused
from accounts.services.refresh import account_refresh
from accounts.services.remote import lock_for_change, perform
from governance.atlassian.client import AtlassianClient
from governance.atlassian.errors import AtlassianError
from governance.audit.models import AuditAction
from governance.audit.record import Actor


def _refuse_synced(group: Group) -> None:
    if group.external_synced:
        raise ServiceRefused(
            f"{group} is synced from an identity provider; change its members in the identity provider."
        )


def _directory_of(group: Group) -> str:
    """The group's directory: membership writes name it, never '-' (DESIGN.md 5.12)."""
    if not group.directory_id or group.directory_id == "-":
        raise ServiceRefused(f"{group} has no known directory: run a sync, then try again.")
    return group.directory_id


def _membership_target(account: Account, group: Group) -> dict[str, Any]:
    return {
        "target_type": "accounts.membership",
        "target_id": f"{account.account_id}:{group.group_id}",
        "target_repr": f"{account} in {group}",
    }


def membership_add(
    *,
    account: Account,
    group: Group,
    client: AtlassianClient,
    actor: Actor,
    reason: str,
    correlation_id: str = "",
    refresh: bool = True,
    expires_at: datetime | None = None,
) -> Account:
    """Add to a group in Atlassian; the account is then read back (unless ``refresh`` is off: a
    multi-step change refreshes once at its end). With ``expires_at`` the membership is given
    until then: ``expire_access`` warns ahead and removes it on the day (accounts/models/ends.py)."""
    _refuse_synced(group)
    directory = _directory_of(group)

    def mirror(locked: Account) -> dict[str, Any]:
        _, created = Membership.objects.get_or_create(account=locked, group=group)
        if expires_at is not None:
            end_schedule(account=locked, group=group, expires_at=expires_at, actor=actor, reason=reason)
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
        after={"group": group.name, **({"expires_at": expires_at.isoformat()} if expires_at else {})},
        remote=lambda: client.group_membership_add(group.group_id, account.account_id, directory_id=directory),
        mirror=mirror,
        client=client,
        refresh=refresh,
    )


def membership_remove(
    *,
    account: Account,
    group: Group,
    client: AtlassianClient,
    actor: Actor,
    reason: str,
    correlation_id: str = "",
    allow_org_admin: bool = False,
    refresh: bool = True,
) -> Account:
    """Take out of a group in Atlassian; the account is then read back (unless ``refresh`` is off).
    Everything the group grants goes with it, and the read-back mirrors all of it; to take one
    product only, use :func:`product_access_remove`, whose plan leaves groups that grant more."""
    _refuse_synced(group)
    if account.is_org_admin and group.is_licence_group and not allow_org_admin:
        raise ServiceRefused(f"{account} is an organization admin; the portal does not take org admins' licences.")
    directory = _directory_of(group)

    def mirror(locked: Account) -> dict[str, Any]:
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
        remote=lambda: client.group_membership_remove(group.group_id, account.account_id, directory_id=directory),
        mirror=mirror,
        client=client,
        refresh=refresh,
    )


class NeedsDecision(ServiceRefused):
    """A product comes through a group that also grants something else: removing the group would
    take more than the product, so a person decides (DESIGN.md 5.9). The message says why."""


def direct_roles_of(client: AtlassianClient, account: Account) -> dict[str, tuple[str, ...]]:
    """``{resource ARI: roles}`` the account holds directly, as Atlassian's role assignments list
    them (a read: the directory ``-`` is fine)."""
    assignments = client.user_role_assignments(account.account_id, directory_id=account.directory_id or None)
    return {a.resource_id: a.direct_roles for a in assignments if a.direct_roles}


def product_access_plan(
    *,
    account: Account,
    products: list[Product],
    allow_org_admin: bool = False,
    remove_shared: bool = False,
    client: AtlassianClient | None = None,
) -> dict[str, Any]:
    """What taking ``products`` away means (accounts/plans.py): the groups granting only them,
    and the account's direct roles on them. When one comes through a group that grants something
    else too, the plan removes nothing and its ``attention`` says why; ``remove_shared`` (a
    person's explicit decision) removes such groups as well. Refuses when an IdP-synced group
    grants one (the access could not really be removed) or the account is an org admin.

    Given the ``client``, the account's role assignments are read first: the plan then revokes
    exactly the roles it holds directly (``atlassian/admin``, ``atlassian/user`` ...), not a guess."""
    if account.is_org_admin and not allow_org_admin:
        raise ServiceRefused(f"{account} is an organization admin; the portal does not take org admins' access.")
    known = {account.pk: direct_roles_of(client, account)} if client is not None else None
    plan = removal_plans([account.pk], products, remove_shared=remove_shared, direct_roles=known)[account.pk]
    if plan.synced:
        names = ", ".join(group.name for group in plan.synced)
        raise ServiceRefused(f"{account} gets this access from identity-provider groups ({names}); remove them there.")
    return plan.as_dict()


@changes_account
def product_access_remove(
    *,
    account: Account,
    plan: dict[str, Any],
    client: AtlassianClient,
    actor: Actor,
    reason: str,
    correlation_id: str = "",
    allow_org_admin: bool = False,
) -> dict[str, Any]:
    """Carry out a :func:`product_access_plan`. Idempotent: groups the account already left (in the
    mirror) are skipped, so a run interrupted half-way can be completed by running it again.
    Refuses (:class:`NeedsDecision`) a plan that waits for a person's decision. The account is read
    back from Atlassian once, at the end. Returns the plan, which is exactly what was removed and
    what a restore gives back."""
    if plan.get("attention"):
        raise NeedsDecision(plan["attention"])
    groups = Group.objects.filter(organization=account.organization, group_id__in=plan.get("groups", []))
    still_member = set(Membership.objects.filter(account=account, group__in=groups).values_list("group_id", flat=True))
    for group in groups:
        if group.pk in still_member:
            membership_remove(
                account=account,
                group=group,
                client=client,
                actor=actor,
                reason=reason,
                correlation_id=correlation_id,
                allow_org_admin=allow_org_admin,
                refresh=False,
            )
    roles: list[dict[str, str]] = plan.get("roles", [])  # {"role": ..., "resource": ...}
    for role in roles:
        perform(
            account=account,
            actor=actor,
            action=AuditAction.ROLE_REVOKED,
            reason=reason,
            correlation_id=correlation_id,
            after=role,
            remote=functools.partial(_revoke_and_verify, client, account, role["role"], role["resource"]),
            client=client,
            refresh=False,
        )
    if not account_refresh(account=account, client=client, actor=actor, correlation_id=correlation_id):
        # Not read back: mirror what was asked for; the next sync brings the rest.
        with transaction.atomic():
            lock_for_change(account.pk).save(update_fields=["portal_changed_at"])
            # By instance (resource ARI), not key: a sandbox site shares its production site's key.
            ProductAccess.objects.filter(
                account=account,
                product__resource_id__in=plan.get("resources", []),
                product__organization=account.organization,
            ).delete()
    return plan


def _revoke_and_verify(client: AtlassianClient, account: Account, role: str, resource: str) -> None:
    """Revoke a direct role, then read the role assignments back: Atlassian answers 204 to a revoke
    that matched nothing (its document lists no error for it), so a revoke that left the account
    holding the product directly is reported as the failure it is, not recorded as done."""
    client.user_role_revoke(account.account_id, role=role, resource=resource)
    left = direct_roles_of(client, account).get(resource, ())
    if left:
        raise AtlassianError(
            f"Revoking {role} changed nothing: Atlassian still lists {', '.join(left)} given directly on {resource}",
            retryable=False,
            method="POST",
            path="roles/revoke",
        )


@changes_account
def product_access_restore(
    *,
    account: Account,
    removed: dict[str, Any],
    client: AtlassianClient,
    actor: Actor,
    reason: str,
    correlation_id: str = "",
) -> None:
    """Give back what :func:`product_access_remove` took: the same groups and roles, then read the
    account back from Atlassian once. Idempotent."""
    groups = Group.objects.filter(organization=account.organization, group_id__in=removed.get("groups", []))
    present = set(Membership.objects.filter(account=account, group__in=groups).values_list("group_id", flat=True))
    for group in groups:
        if group.pk not in present:
            membership_add(
                account=account,
                group=group,
                client=client,
                actor=actor,
                reason=reason,
                correlation_id=correlation_id,
                refresh=False,
            )
    roles: list[dict[str, str]] = removed.get("roles", [])
    for role in roles:
        perform(
            account=account,
            actor=actor,
            action=AuditAction.ROLE_ASSIGNED,
            reason=reason,
            correlation_id=correlation_id,
            after=role,
            remote=functools.partial(
                client.user_role_assign, account.account_id, role=role["role"], resource=role["resource"]
            ),
            client=client,
            refresh=False,
        )
    account_refresh(account=account, client=client, actor=actor, correlation_id=correlation_id)
