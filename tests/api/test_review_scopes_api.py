"""``/api/reviews/`` for every scope, and ``POST /api/reviews/items/{id}/restore/``: Portal admins and
the help desk give back exactly what a closed review removed (audited); others cannot."""

import csv
import io
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import ProductAccess
from governance.audit.models import AuditAction, AuditEvent
from governance.audit.record import Actor
from policies.models import ItemOutcome, ReviewCampaign, ReviewScope
from policies.services.review_items import items_decide
from policies.services.reviews import campaign_close
from tests.policies.reviews_world import product_to_take, remote_access, reviewer

CAMPAIGNS = reverse("api:reviewcampaign-list")


def _start(client, organization, rita, **fields):
    body = {
        "organization": organization.pk,
        "name": "API review",
        "reviewer": rita.pk,
        "deadline": (timezone.now() + timedelta(days=7)).isoformat(),
        **fields,
    }
    return client.post(CAMPAIGNS, body, format="json")


@pytest.fixture
def product_review(api_as, mirrored, atlassian, alice):
    """A product review started through the API; one holder revoked and the campaign closed."""
    rita = reviewer("rita")
    product, account = product_to_take(mirrored)
    response = _start(api_as(alice), mirrored, rita, scope=ReviewScope.PRODUCTS, products=[product.pk])
    assert response.status_code == 201, response.content
    assert (response.json()["scope"], response.json()["products"]) == (ReviewScope.PRODUCTS, [product.pk])
    campaign = ReviewCampaign.objects.get(pk=response.json()["id"])
    item = campaign.items.get(account=account)
    items_decide(items=[item], decision="revoke", reason="idle", user=rita, actor=Actor.for_user(rita))
    return campaign, item, product, rita


def test_a_product_review_runs_through_the_api_and_the_help_desk_gives_the_product_back(
    api_as, product_review, atlassian, simulator, alice, hank
):
    campaign, item, product, _ = product_review
    before = remote_access(simulator, item.account)
    campaign_close(campaign=campaign, client=atlassian, actor=Actor.for_user(alice))
    detail = api_as(alice).get(reverse("api:reviewitem-detail", args=[item.pk])).json()
    assert (detail["scope"], detail["product"], detail["group"]) == (ReviewScope.PRODUCTS, product.pk, None)
    assert detail["outcome"] == ItemOutcome.REVOKED
    assert detail["removed"]["groups"]
    assert not ProductAccess.objects.filter(account=item.account, product=product).exists()

    restore = reverse("api:reviewitem-restore", args=[item.pk])
    assert api_as(hank).post(restore, {"reason": ""}, format="json").status_code == 400
    response = api_as(hank).post(restore, {"reason": "needed after all"}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["outcome"] == ItemOutcome.RESTORED
    assert remote_access(simulator, item.account) == before
    assert ProductAccess.objects.filter(account=item.account, product=product).exists()
    event = AuditEvent.objects.get(action=AuditAction.REVIEW_ITEM_RESTORED)
    assert (event.actor_user, event.reason) == (hank, "needed after all")
    again = api_as(hank).post(restore, {"reason": "twice"}, format="json")
    assert again.status_code == 409
    assert AuditEvent.objects.filter(action=AuditAction.REVIEW_ITEM_RESTORED).count() == 1

    evidence = api_as(alice).get(reverse("api:reviewcampaign-evidence", args=[campaign.pk]))
    rows = list(csv.reader(io.StringIO(b"".join(evidence.streaming_content).decode())))
    [row] = [r for r in rows[1:] if r[3] == item.account.account_id]
    assert (row[1], row[2], row[10]) == ("Holders of chosen products", str(product), "Removed, then given back")


def test_auditors_and_reviewers_cannot_give_back_and_an_item_not_removed_is_refused(
    api_as, product_review, atlassian, alice, audrey
):
    campaign, item, _, rita = product_review
    restore = reverse("api:reviewitem-restore", args=[item.pk])
    assert api_as(alice).post(restore, {"reason": "too early"}, format="json").status_code == 409  # not closed yet
    campaign_close(campaign=campaign, client=atlassian, actor=Actor.for_user(alice))

    assert api_as(audrey).post(restore, {"reason": "x"}, format="json").status_code == 403
    assert api_as(rita).post(restore, {"reason": "x"}, format="json").status_code == 403
    item.refresh_from_db()
    assert item.outcome == ItemOutcome.REVOKED


@pytest.mark.parametrize("scope", [ReviewScope.EXTERNAL, ReviewScope.ORG_ADMINS])
def test_external_and_admin_reviews_start_through_the_api(api_as, mirrored, alice, scope):
    rita = reviewer("rita")

    response = _start(api_as(alice), mirrored, rita, scope=scope)

    assert response.status_code == 201, response.content
    assert response.json()["items"] > 0
    items = api_as(rita).get(reverse("api:reviewitem-list"), {"campaign": response.json()["id"]}).json()["results"]
    assert {row["scope"] for row in items} == {scope}
    assert all(row["group"] is None and row["product"] is None for row in items)


def test_a_product_review_without_products_is_refused(api_as, mirrored, alice):
    response = _start(api_as(alice), mirrored, reviewer("rita"), scope=ReviewScope.PRODUCTS)

    assert response.status_code == 400
    assert "at least one product" in response.content.decode()
