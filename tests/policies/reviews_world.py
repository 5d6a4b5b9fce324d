"""Shared pieces of the access review tests: reviewers and a campaign over simulator groups."""

from datetime import timedelta

from django.contrib.auth.models import Group as AuthGroup
from django.contrib.auth.models import User
from django.db.models import Count
from django.utils import timezone

from accounts.models import Group
from governance.audit.record import Actor
from governance.roles import REVIEWERS
from policies.services.reviews import campaign_start


def reviewer(username: str) -> User:
    user = User.objects.create_user(username=username, email=f"{username}@portal.test", password="x" * 16)
    user.is_staff = True
    user.save()
    user.groups.add(AuthGroup.objects.get(name=REVIEWERS))
    return user


def reviewable_groups(organization, count: int) -> list[Group]:
    """Groups the portal may change (not IdP-synced, not licence groups, a known directory), with members."""
    groups = (
        Group.objects.filter(organization=organization, external_synced=False, is_licence_group=False)
        .exclude(directory_id__in=["", "-"])
        .annotate(n=Count("memberships"))
        .filter(n__gt=0)
        .order_by("n", "name")
    )
    chosen = list(groups[:count])
    assert len(chosen) == count, "the simulator has too few changeable groups with members"
    return chosen


def start(organization, admin, groups, **fields):
    fields.setdefault("deadline", timezone.now() + timedelta(days=7))
    return campaign_start(
        organization=organization, name="Q3 review", groups=groups, actor=Actor.for_user(admin), **fields
    )


def product_to_take(organization):
    """A product and one of its holders (no org admin, active) whose access the product-access
    service can take without touching anything else: granted only by groups that grant nothing but
    it (editable), or directly."""
    from accounts.models import AccountStatus, ProductAccess
    from accounts.services.errors import ServiceRefused
    from accounts.services.memberships import product_access_plan

    holders = (
        ProductAccess.objects.filter(
            account__organization=organization, account__is_org_admin=False, account__status=AccountStatus.ACTIVE
        )
        .select_related("account", "product")
        .order_by("product__key", "account__account_id")
    )
    for access in holders:
        try:
            plan = product_access_plan(account=access.account, products=[access.product])
        except ServiceRefused:
            continue
        if not plan.get("attention") and plan["groups"] and not plan["roles"]:
            return access.product, access.account
    raise AssertionError("the seeded organization has no product that can be taken from a holder")


def remote_access(simulator, account) -> tuple[list[str], dict]:
    """What the simulator says an account holds: its groups (by name) and its roles by product."""
    remote = simulator.state.account(account.account_id)
    groups = sorted(simulator.state.data.groups[i].name for i in remote.groups)
    roles = {
        p: {r: sorted(src) for r, src in by_role.items()} for p, by_role in simulator.state.roles_of(remote).items()
    }
    return groups, roles
