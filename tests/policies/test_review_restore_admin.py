"""Giving back what an access review removed, in the admin: a "Give back…" button on the item's page
(Portal admins and the help desk), a confirmation with a required reason, the simulator's membership
back as it was, audited; auditors and reviewers cannot. And the start form takes every scope."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Membership
from governance.audit.models import AuditAction, AuditEvent
from governance.audit.record import Actor
from policies.models import ItemOutcome, ReviewCampaign, ReviewScope
from policies.services.review_items import items_decide
from policies.services.reviews import campaign_close
from tests.policies.reviews_world import product_to_take, remote_access, reviewable_groups, reviewer, start
from tests.policies.test_reviews_admin import CAMPAIGNS, ITEMS, action, login


@pytest.fixture
def revoked(mirrored, atlassian, alice):
    """A closed campaign in which one membership was revoked (and removed in the simulator)."""
    rita = reviewer("rita")
    campaign = start(mirrored, alice, reviewable_groups(mirrored, 1), reviewer=rita)
    item = campaign.items.select_related("account", "group").first()
    items_decide(items=[item], decision="revoke", reason="left", user=rita, actor=Actor.for_user(rita))
    campaign_close(campaign=campaign, client=atlassian, actor=Actor.for_user(alice))
    item.refresh_from_db()
    assert item.outcome == ItemOutcome.REVOKED
    return item, rita


def test_the_help_desk_gives_back_a_revoked_membership_from_the_item_page_with_a_reason(revoked, simulator, hank):
    item, _ = revoked
    client = login(hank)
    page = client.get(f"{ITEMS}{item.pk}/change/").content.decode()
    assert 'id="review-restore"' in page

    confirm = action(client, ITEMS, "restore_selected", [item.pk])
    assert confirm.status_code == 200
    assert b"Reason" in confirm.content
    assert action(client, ITEMS, "restore_selected", [item.pk], reason="").status_code == 200
    assert not Membership.objects.filter(account=item.account, group=item.group).exists()

    done = action(client, ITEMS, "restore_selected", [item.pk], reason="removed by mistake")

    assert done.status_code == 302
    item.refresh_from_db()
    assert item.outcome == ItemOutcome.RESTORED
    assert Membership.objects.filter(account=item.account, group=item.group).exists()
    assert item.group.name in remote_access(simulator, item.account)[0]
    event = AuditEvent.objects.get(action=AuditAction.REVIEW_ITEM_RESTORED)
    assert (event.actor_user, event.reason) == (hank, "removed by mistake")
    assert AuditEvent.objects.filter(action=AuditAction.MEMBERSHIP_ADDED, reason="removed by mistake").count() == 1
    assert 'id="review-restore"' not in client.get(f"{ITEMS}{item.pk}/change/").content.decode()


@pytest.mark.parametrize("persona", ["audrey", "rita"])
def test_auditors_and_reviewers_cannot_give_back(request, revoked, persona):
    item, rita = revoked
    user = rita if persona == "rita" else request.getfixturevalue(persona)
    client = login(user)

    assert 'id="review-restore"' not in client.get(f"{ITEMS}{item.pk}/change/").content.decode()
    assert action(client, ITEMS, "restore_selected", [item.pk], reason="x").status_code == 403
    item.refresh_from_db()
    assert item.outcome == ItemOutcome.REVOKED


def _form(organization, **fields):
    deadline = timezone.localtime(timezone.now() + timedelta(days=10))
    return {
        "organization": organization.pk,
        "name": "Scoped review",
        "deadline_0": deadline.strftime("%Y-%m-%d"),
        "deadline_1": deadline.strftime("%H:%M:%S"),
        "remind_days_before": "2",
        "undecided": "keep",
        "max_revocations": "10",
        **fields,
    }


@pytest.mark.parametrize("scope", [ReviewScope.PRODUCTS, ReviewScope.EXTERNAL, ReviewScope.ORG_ADMINS])
def test_alice_starts_a_review_of_each_scope_with_the_form(mirrored, alice, scope):
    rita = reviewer("rita")
    extra = {"products": [product_to_take(mirrored)[0].pk]} if scope == ReviewScope.PRODUCTS else {}

    response = login(alice).post(CAMPAIGNS + "add/", _form(mirrored, scope=scope, reviewer=rita.pk, **extra))

    assert response.status_code == 302, response.content.decode()[:3000]
    campaign = ReviewCampaign.objects.get()
    assert campaign.scope == scope
    assert campaign.items.exists()
    assert set(campaign.items.values_list("reviewer", flat=True)) == {rita.pk}
    started = AuditEvent.objects.get(action=AuditAction.REVIEW_CAMPAIGN_STARTED)
    assert started.after["scope"] == scope


def test_the_form_refuses_a_product_review_without_products(mirrored, alice):
    rita = reviewer("rita")

    response = login(alice).post(CAMPAIGNS + "add/", _form(mirrored, scope=ReviewScope.PRODUCTS, reviewer=rita.pk))

    assert response.status_code == 200
    assert b"Choose at least one product." in response.content
    assert not ReviewCampaign.objects.exists()
