"""Bulk "Add to group" with an end date, for people who are already members: an add never
shortens access. A member whose access ends earlier keeps it until the new date (audited, said on
the result); an open-ended membership, or one ending later, is left as it is. Same through
``POST /api/accounts/bulk/``, and the confirmation page says so before anything happens."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.bulk import Outcome
from accounts.models import AccessEndStatus, Group, Membership, MembershipEnd
from accounts.services.access_ends import membership_end_set
from accounts.services.memberships import membership_add
from governance.audit.models import AuditAction, AuditEvent
from tests.accounts.test_bulk import ACTOR, _apply, _by_pk, _plain, clients, mirrored  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(simulator, mirrored, atlassian):  # noqa: F811
    """A team group and four plain accounts: outside it, in it open-ended, in it until soon, in it
    until long after the date the bulk action gives."""
    group = (
        Group.objects.filter(external_synced=False, is_licence_group=False)
        .exclude(directory_id__in=["", "-"])
        .order_by("pk")
        .first()
    )
    outside, open_ended, soon, later = [
        a for a in _plain(12) if not Membership.objects.filter(account=a, group=group).exists()
    ][:4]
    now = timezone.now().replace(microsecond=0)
    for account in (open_ended, soon, later):
        membership_add(account=account, group=group, client=atlassian, actor=ACTOR, reason="set-up")
    membership_end_set(account=soon, group=group, expires_at=now + timedelta(days=5), actor=ACTOR, reason="set-up")
    membership_end_set(account=later, group=group, expires_at=now + timedelta(days=90), actor=ACTOR, reason="set-up")
    return {
        "group": group,
        "outside": outside,
        "open": open_ended,
        "soon": soon,
        "later": later,
        "until": now + timedelta(days=30),
    }


def _end(account, group):
    return MembershipEnd.objects.filter(account=account, group=group, status=AccessEndStatus.SCHEDULED).first()


def test_an_add_with_an_end_date_never_shortens_a_members_access(world, simulator, clients):  # noqa: F811
    group, until = world["group"], world["until"]
    accounts = [world[k] for k in ("outside", "open", "soon", "later")]
    writes = {a.pk: len(simulator.writes_for(a.account_id)) for a in accounts[1:]}
    outcome = _apply("add_to_group", accounts, clients, group=group.pk, expires_at=until.isoformat())
    results = _by_pk(outcome)

    assert results[world["outside"].pk].outcome == Outcome.DONE
    assert _end(world["outside"], group).expires_at == until

    assert results[world["open"].pk].outcome == Outcome.SKIPPED
    assert "left open-ended" in results[world["open"].pk].message
    assert _end(world["open"], group) is None, "an open-ended membership gets no end date from an add"

    assert results[world["soon"].pk].outcome == Outcome.DONE
    assert f"access now until {until:%Y-%m-%d}" in results[world["soon"].pk].message
    assert _end(world["soon"], group).expires_at == until
    [moved] = AuditEvent.objects.filter(
        action=AuditAction.MEMBERSHIP_END_SET, correlation_id=outcome.correlation_id, reason="tidy-up"
    )
    assert moved.after["expires_at"] == until.isoformat()
    assert moved.before["expires_at"] < until.isoformat()

    assert results[world["later"].pk].outcome == Outcome.SKIPPED
    assert "left as it is" in results[world["later"].pk].message
    assert _end(world["later"], group).expires_at > until

    for account in accounts[1:]:
        assert len(simulator.writes_for(account.account_id)) == writes[account.pk], "nothing sent for members"


def test_the_api_says_what_became_of_each_member(alice, world):
    group, until = world["group"], world["until"]
    accounts = [world[k] for k in ("open", "soon")]
    body = {
        "action": "add_to_group",
        "reason": "contract",
        "group": group.pk,
        "account_ids": [a.pk for a in accounts],
        "expires_at": until.isoformat(),
    }
    api = APIClient()
    api.force_login(alice)
    answer = api.post(reverse("api:account-bulk-list"), body, format="json").json()
    by_pk = {row["account"]: row for row in answer["results"]}
    assert by_pk[world["open"].pk]["outcome"] == "skipped"
    assert "left open-ended" in by_pk[world["open"].pk]["message"]
    assert by_pk[world["soon"].pk]["outcome"] == "done"
    assert "access now until" in by_pk[world["soon"].pk]["message"]
    assert _end(world["soon"], group).granted_by_id == alice.pk


def test_the_confirmation_page_says_what_happens_to_members(client_for, alice, world):
    response = client_for(alice).post(
        reverse("admin:accounts_account_changelist"),
        {"action": "bulk_add_to_group", "_selected_action": [world["soon"].pk], "index": 0},
    )
    page = response.content.decode()
    assert 'id="bulk-existing-members"' in page
    assert "an add never shortens access" in page
