"""``expires_at`` through the API: the bulk "add_to_group" gives access until a date, the account
shows it, and the account list filters accounts whose access ends soon."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Account, AccountStatus, Group, Membership, MembershipEnd
from governance.audit.models import AuditAction, AuditEvent

pytestmark = pytest.mark.django_db
BULK = reverse("api:account-bulk-list")
ACCOUNTS = reverse("api:account-list")


def _group() -> Group:
    return Group.objects.filter(external_synced=False, is_licence_group=False).exclude(directory_id="").first()


def _outside(group: Group, n: int) -> list[Account]:
    accounts = Account.objects.exclude(management_source="synced").filter(
        status=AccountStatus.ACTIVE, is_org_admin=False, managed=True
    )
    return list(accounts.exclude(memberships__group=group).order_by("pk")[:n])


def test_add_to_group_with_expires_at_gives_the_membership_until_then(api_as, alice, simulator, mirrored):
    group = _group()
    accounts = _outside(group, 2)
    until = (timezone.now() + timedelta(days=30)).replace(microsecond=0)
    body = {
        "action": "add_to_group",
        "reason": "contract",
        "group": group.pk,
        "account_ids": [a.pk for a in accounts],
        "expires_at": until.isoformat(),
    }
    response = api_as(alice).post(BULK, body, format="json")
    assert response.json()["counts"]["done"] == 2
    assert Membership.objects.filter(group=group, account__in=accounts).count() == 2
    ends = MembershipEnd.objects.filter(group=group, account__in=accounts)
    assert sorted(e.expires_at for e in ends) == [until, until]
    assert {e.granted_by_id for e in ends} == {alice.pk}
    events = AuditEvent.objects.filter(action=AuditAction.MEMBERSHIP_ADDED, reason="contract")
    assert {e.after["expires_at"] for e in events} == {until.isoformat()}

    detail = api_as(alice).get(reverse("api:account-detail", args=[accounts[0].pk])).json()
    assert detail["access_until"] is not None
    assert [(m["group"], m["expires_at"] is not None) for m in detail["access_ends"]] == [(group.name, True)]

    listed = api_as(alice).get(ACCOUNTS, {"access_ending_within": 31}).json()
    assert {row["id"] for row in listed["results"]} == {a.pk for a in accounts}
    assert api_as(alice).get(ACCOUNTS, {"access_ending_within": 29}).json()["results"] == []


@pytest.mark.parametrize(
    ("extra", "why"),
    [
        ({"expires_at": "2001-01-01T00:00:00Z"}, "future"),
        ({"action": "suspend", "expires_at": "2999-01-01T00:00:00Z"}, "add_to_group"),
    ],
)
def test_a_past_end_date_or_one_on_another_action_is_a_400_that_changes_nothing(api_as, alice, mirrored, extra, why):
    group = _group()
    body = {"action": "add_to_group", "reason": "x", "group": group.pk, "account_ids": [_outside(group, 1)[0].pk]}
    events = AuditEvent.objects.count()
    response = api_as(alice).post(BULK, {**body, **extra}, format="json")
    assert response.status_code == 400
    assert why in response.json()["expires_at"][0]
    assert AuditEvent.objects.count() == events
