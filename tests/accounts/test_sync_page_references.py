"""A batch of users mapped onto the mirror (accounts/sync/users.py ``apply_user_page``): groups
the group phase did not list, and users a repeating cursor hands out twice."""

import pytest
from django.utils import timezone

from accounts.models import Account, Group, Membership
from accounts.sync.context import SyncContext
from accounts.sync.users import apply_user_page
from governance.atlassian.records import DirectoryUser, GroupRef
from governance.audit.record import Actor

pytestmark = pytest.mark.django_db


def _user(account_id: str, *groups: GroupRef) -> DirectoryUser:
    return DirectoryUser(
        account_id=account_id,
        account_type="atlassian",
        status="active",
        account_status="active",
        membership_status="active",
        name=account_id.title(),
        email=f"{account_id}@example.com",
        claim_status="managed",
        added_to_org=timezone.now(),
        groups=groups,
    )


@pytest.fixture
def ctx(organization):
    listed = Group.objects.create(organization=organization, group_id="listed", name="listed")
    context = SyncContext(organization=organization, now=timezone.now(), correlation_id="c", actor=Actor.system("t"))
    context.group_pks = {"listed": listed.pk}
    return context


def _groups_of(organization) -> dict[str, set[str]]:
    held: dict[str, set[str]] = {}
    rows = Membership.objects.filter(account__organization=organization)
    for account_id, group_id in rows.values_list("account__account_id", "group__group_id"):
        held.setdefault(account_id, set()).add(group_id)
    return held


def test_a_group_only_the_users_mention_is_created_and_their_memberships_written(organization, ctx):
    listed, late = GroupRef(id="listed", name="listed"), GroupRef(id="late", name="late-group")
    apply_user_page(ctx, [_user("ann", listed, late), _user("bob", late), _user("cid", listed)])
    created = Group.objects.get(organization=organization, group_id="late")
    assert created.name == "late-group"
    assert ctx.group_pks["late"] == created.pk
    assert ctx.counts["groups_written"] == 1
    assert _groups_of(organization) == {"ann": {"listed", "late"}, "bob": {"late"}, "cid": {"listed"}}


def test_a_user_handed_out_twice_is_written_and_counted_once(organization, ctx):
    listed = GroupRef(id="listed", name="listed")
    apply_user_page(ctx, [_user("ann", listed), _user("bob"), _user("ann", listed)])  # twice in one batch
    apply_user_page(ctx, [_user("bob"), _user("cid")])  # and again in the next
    assert sorted(Account.objects.filter(organization=organization).values_list("account_id", flat=True)) == [
        "ann",
        "bob",
        "cid",
    ]
    assert ctx.counts["users_seen"] == 3
    assert ctx.counts["duplicates_skipped"] == 2
    assert ctx.seen_accounts == {"ann", "bob", "cid"}
