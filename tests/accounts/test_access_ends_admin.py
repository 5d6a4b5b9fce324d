"""Access with an end date in the admin: the bulk "Add to group" form's "Access until", the
account list's "access ending" filter and column, and the account page."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Group, Membership, MembershipEnd
from tests.accounts.test_bulk_admin import CHANGELIST, _choose, _confirm, _plain, mirrored  # noqa: F401

pytestmark = pytest.mark.django_db


def test_add_to_group_with_access_until_gives_each_membership_that_end(client_for, alice, simulator, mirrored):  # noqa: F811
    group = Group.objects.filter(external_synced=False, is_licence_group=False).exclude(directory_id="").first()
    accounts = [a for a in _plain(8) if not Membership.objects.filter(account=a, group=group).exists()][:2]
    client = client_for(alice)
    assert 'name="expires_at"' in _choose(client, "bulk_add_to_group", accounts).content.decode()
    until = (timezone.now() + timedelta(days=20)).replace(second=0, microsecond=0)
    page = _confirm(
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
