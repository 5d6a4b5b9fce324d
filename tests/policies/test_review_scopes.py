"""Access review scopes end to end against the simulator: holders of a product (revoke = that
product's access through the product-access service, given back exactly), external accounts
(revoke = suspend, given back by lifting it), organization admins (revoke = handed to a person, never
pretended), and the evidence of each."""

import pytest

from accounts.models import Account, AccountStatus, AccountType, Group, ProductAccess
from governance.audit.models import AuditAction, AuditEvent
from governance.audit.record import Actor
from policies.models import CampaignStatus, ItemOutcome, ReviewDecision, ReviewScope
from policies.selectors.reviews import evidence_rows
from policies.services.review_items import item_restore, items_decide
from policies.services.reviews import ReviewRefused, campaign_close
from tests.policies.reviews_world import product_to_take, remote_access, reviewable_groups, reviewer, start


def _decide(items, decision, user):
    items_decide(items=items, decision=decision, reason="checked", user=user, actor=Actor.for_user(user))


class TestHoldersOfAProduct:
    def test_a_revoked_holder_loses_that_product_in_atlassian_and_gets_exactly_it_back(
        self, mirrored, atlassian, simulator, alice
    ):
        rita = reviewer("rita")
        product, account = product_to_take(mirrored)
        campaign = start(mirrored, alice, [], scope=ReviewScope.PRODUCTS, products=[product], reviewer=rita)
        holders = ProductAccess.objects.filter(product=product).exclude(
            account__status__in=(AccountStatus.REMOVED, AccountStatus.NOT_IN_DIRECTORY)
        )
        assert campaign.items.count() == holders.count() >= 2
        assert set(campaign.items.values_list("product", flat=True)) == {product.pk}
        assert not campaign.items.filter(group__isnull=False).exists()
        item = campaign.items.get(account=account)
        _decide([item], ReviewDecision.REVOKE, rita)
        _decide(list(campaign.items.exclude(pk=item.pk)), ReviewDecision.KEEP, rita)
        before = remote_access(simulator, account)

        assert campaign_close(campaign=campaign, client=atlassian, actor=Actor.for_user(alice)) == CampaignStatus.CLOSED

        item.refresh_from_db()
        assert item.outcome == ItemOutcome.REVOKED, item.outcome_detail
        assert item.removed["groups"]
        assert item.removed["products"] == [product.key]
        # The mirror was read back from Atlassian after the change: the product is gone there.
        assert not ProductAccess.objects.filter(account=account, product=product).exists()
        groups_after = remote_access(simulator, account)[0]
        taken = {g.name for g in Group.objects.filter(group_id__in=item.removed["groups"])}
        assert taken
        assert not taken & set(groups_after)
        assert set(before[0]) - set(groups_after) == taken  # that product's groups, nothing else
        assert AuditEvent.objects.filter(action=AuditAction.MEMBERSHIP_REMOVED).count() == len(item.removed["groups"])
        kept = campaign.items.exclude(pk=item.pk)
        assert set(kept.values_list("outcome", flat=True)) == {ItemOutcome.KEPT}

        item_restore(item=item, client=atlassian, actor=Actor.for_user(alice), reason="still on the project")

        assert remote_access(simulator, account) == before
        assert ProductAccess.objects.filter(account=account, product=product).exists()
        item.refresh_from_db()
        assert item.outcome == ItemOutcome.RESTORED
        restored = AuditEvent.objects.get(action=AuditAction.REVIEW_ITEM_RESTORED)
        assert restored.reason == "still on the project"
        assert restored.after["given_back"] == item.removed

    def test_a_product_review_needs_products_and_a_reviewer(self, mirrored, alice):
        rita = reviewer("rita")
        with pytest.raises(ReviewRefused, match="at least one product"):
            start(mirrored, alice, [], scope=ReviewScope.PRODUCTS, reviewer=rita)
        product, _ = product_to_take(mirrored)
        with pytest.raises(ReviewRefused, match="name a reviewer or a fallback"):
            start(mirrored, alice, [], scope=ReviewScope.PRODUCTS, products=[product])
        with pytest.raises(ReviewRefused, match="only for a review of group members"):
            start(
                mirrored,
                alice,
                reviewable_groups(mirrored, 1),
                scope=ReviewScope.PRODUCTS,
                products=[product],
                reviewer=rita,
            )


class TestExternalAccounts:
    def test_every_active_external_person_is_an_item_and_a_revoked_one_is_suspended_then_restored(
        self, mirrored, atlassian, simulator, alice
    ):
        rita = reviewer("rita")
        campaign = start(mirrored, alice, [], scope=ReviewScope.EXTERNAL, reviewer=rita)
        external = Account.objects.filter(organization=mirrored, managed=False, status=AccountStatus.ACTIVE).exclude(
            account_type=AccountType.APP
        )
        assert external.exists()
        assert set(campaign.items.values_list("account", flat=True)) == set(external.values_list("pk", flat=True))
        item = campaign.items.filter(account__is_org_admin=False).select_related("account").first()
        groups_before = remote_access(simulator, item.account)[0]
        _decide([item], ReviewDecision.REVOKE, rita)

        campaign_close(campaign=campaign, client=atlassian, actor=Actor.for_user(alice))

        item.refresh_from_db()
        assert item.outcome == ItemOutcome.REVOKED, item.outcome_detail
        assert simulator.state.status(simulator.state.account(item.account.account_id)) == "suspended"
        assert Account.objects.get(pk=item.account_id).status == AccountStatus.SUSPENDED
        assert AuditEvent.objects.filter(action=AuditAction.ACCOUNT_SUSPENDED).count() == 1

        item_restore(item=item, client=atlassian, actor=Actor.for_user(alice), reason="contract extended")

        assert simulator.state.status(simulator.state.account(item.account.account_id)) == "active"
        assert remote_access(simulator, item.account)[0] == groups_before
        assert Account.objects.get(pk=item.account_id).status == AccountStatus.ACTIVE


class TestOrganizationAdmins:
    def test_revoking_an_admin_is_handed_to_a_person_and_nothing_is_sent_to_atlassian(
        self, mirrored, atlassian, simulator, alice
    ):
        rita = reviewer("rita")
        campaign = start(mirrored, alice, [], scope=ReviewScope.ORG_ADMINS, reviewer=rita)
        admins = Account.objects.filter(organization=mirrored, is_org_admin=True)
        assert admins.exists()
        assert set(campaign.items.values_list("account", flat=True)) == set(admins.values_list("pk", flat=True))
        item = campaign.items.select_related("account").first()
        _decide([item], ReviewDecision.REVOKE, rita)
        remote_before = simulator.state.account(item.account.account_id)
        assert remote_before.org_admin

        campaign_close(campaign=campaign, client=atlassian, actor=Actor.for_user(alice))

        item.refresh_from_db()
        assert item.outcome == ItemOutcome.HANDED_OFF
        assert "by hand in Atlassian" in item.outcome_detail
        assert simulator.state.account(item.account.account_id).org_admin  # the portal did not pretend
        assert simulator.state.status(simulator.state.account(item.account.account_id)) == "active"
        handed = AuditEvent.objects.get(action=AuditAction.REVIEW_HANDED_OFF)
        assert handed.after["role"] == "atlassian/org-admin"
        with pytest.raises(ReviewRefused, match="whose access was removed"):
            item_restore(item=item, client=atlassian, actor=Actor.for_user(alice), reason="x")

        [row] = [r for r in evidence_rows(campaign) if r[3] == item.account.account_id]
        assert (row[1], row[2]) == ("Organization admins", "organization admin role")
        assert row[10] == "To be done by hand in Atlassian"
