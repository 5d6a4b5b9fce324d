"""Access with an end date in the admin: the bulk "Add to group" form's "Access until", the
account list's "access ending" filter and column, and the account page."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Group, Membership, MembershipEnd
from tests.accounts.test_bulk_admin import CHANGELIST, _choose, _confirm, _plain, _result, mirrored  # noqa: F401

pytestmark = pytest.mark.django_db


def test_add_to_group_with_access_until_gives_each_membership_that_end(client_for, alice, simulator, mirrored):  # noqa: F811
    group = Group.objects.filter(external_synced=False, is_licence_group=False).exclude(directory_id="").first()
    accounts = [a for a in _plain(8) if not Membership.objects.filter(account=a, group=group).exists()][:2]
    client = client_for(alice)
    assert 'name="expires_at"' in _choose(client, "bulk_add_to_group", accounts).content.decode()
    until = (timezone.now() + timedelta(days=20)).replace(second=0, microsecond=0)
    page = _result(
        client,
        "bulk_add_to_group",
        accounts,
        reason="contract",
        group=group.pk,
        expires_at=until.strftime("%Y-%m-%dT%H:%M"),
    )
    assert "2 done</strong>" in page.content.decode()
    assert sorted(e.expires_at for e in MembershipEnd.objects.filter(group=group)) == [until, until]

    listed = client.get(CHANGELIST, {"access_ending_within": 30}).content.decode()
    assert f"{until:%Y-%m-%d}" in listed
    for account in accounts:
        assert account.name in listed or account.email in listed
    assert f"{until:%Y-%m-%d}" not in client.get(CHANGELIST, {"access_ending_within": 7}).content.decode()

    account_page = client.get(reverse("admin:accounts_account_change", args=[accounts[0].pk])).content.decode()
    assert f"Access until {until:%Y-%m-%d %H:%M} UTC" in account_page


def test_an_end_date_in_the_past_is_refused_and_nothing_changes(client_for, alice, mirrored):  # noqa: F811
    group = Group.objects.filter(external_synced=False, is_licence_group=False).exclude(directory_id="").first()
    past = (timezone.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    page = _confirm(client_for(alice), "bulk_add_to_group", _plain(1), reason="x", group=group.pk, expires_at=past)
    assert "must be in the future" in page.content.decode()
    assert not MembershipEnd.objects.exists()


def _granted(atlassian, days: int) -> MembershipEnd:
    from accounts.services.memberships import membership_add
    from governance.audit.record import Actor

    group = Group.objects.filter(external_synced=False, is_licence_group=False).exclude(directory_id="").first()
    account = next(a for a in _plain(8) if not Membership.objects.filter(account=a, group=group).exists())
    until = timezone.now().replace(microsecond=0) + timedelta(days=days)
    membership_add(account=account, group=group, client=atlassian, actor=Actor.system(), reason="x", expires_at=until)
    return MembershipEnd.objects.get(account=account, group=group)


def test_the_help_desk_extends_access_from_the_admin_and_the_dashboard_counts_what_ends_soon(
    client_for,
    hank,
    audrey,
    atlassian,
    mirrored,  # noqa: F811
):
    end = _granted(atlassian, days=3)
    index = client_for(hank).get(reverse("admin:index")).content.decode()
    assert 'id="dashboard-access-ends"' in index
    assert "1 membership ends in the next 7 days" in index
    changelist = reverse("admin:accounts_membershipend_changelist")
    response = client_for(hank).post(changelist, {"action": "extend", "_selected_action": [end.pk]}, follow=True)
    assert "Extended: 1" in response.content.decode()
    before = end.expires_at
    end.refresh_from_db()
    assert end.expires_at == before + timedelta(days=30)
    # An auditor reads the list but holds no decision.
    client_for(audrey).post(changelist, {"action": "extend", "_selected_action": [end.pk]})
    end.refresh_from_db()
    assert end.expires_at == before + timedelta(days=30)
