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
