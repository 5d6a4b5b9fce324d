"""Access review campaigns end to end against the simulator: start, decide, close, evidence."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from accounts.models import Membership
from governance.audit.models import AuditAction, AuditEvent
from governance.audit.record import Actor
from policies.models import CampaignStatus, GroupReviewOwner, ItemOutcome, ReviewDecision, UndecidedOutcome
from policies.services.review_items import item_restore, items_decide, items_of
from policies.services.review_schedule import campaigns_daily
from policies.services.reviews import ReviewRefused, campaign_close, campaign_raise_cap
from tests.policies.reviews_world import reviewable_groups, reviewer, start


def _is_member(item) -> bool:
    return Membership.objects.filter(account=item.account, group=item.group).exists()


class TestCampaignFromStartToRevocation:
    def test_revoked_items_leave_the_group_in_atlassian_and_kept_ones_stay(
        self, mirrored, atlassian, simulator, alice, django_capture_on_commit_callbacks
    ):
        rita = reviewer("rita")
        [group] = reviewable_groups(mirrored, 1)
        with django_capture_on_commit_callbacks(execute=True):
            campaign = start(mirrored, alice, [group], reviewer=rita)
        items = list(campaign.items.order_by("id"))
        assert len(items) == Membership.objects.filter(group=group).count() >= 2
        assert mail.outbox
        assert mail.outbox[0].to == [rita.email]
        assert f"campaign__id__exact={campaign.pk}" in mail.outbox[0].body

        revoked, kept = items[0], items[1:]
        actor = Actor.for_user(rita)
        items_decide(items=[revoked], decision=ReviewDecision.REVOKE, reason="left the team", user=rita, actor=actor)
        items_decide(items=kept, decision=ReviewDecision.KEEP, reason="still needed", user=rita, actor=actor)

        def remote_groups():
            remote = simulator.state.account(revoked.account.account_id)
            return {simulator.state.data.groups[idx].name for idx in remote.groups}

        assert group.name in remote_groups()
        assert campaign_close(campaign=campaign, client=atlassian, actor=Actor.for_user(alice)) == CampaignStatus.CLOSED
        revoked.refresh_from_db()
        assert revoked.outcome == ItemOutcome.REVOKED
        assert not _is_member(revoked)
        assert group.name not in remote_groups()
        assert all(_is_member(item) for item in kept)
        assert set(campaign.items.exclude(pk=revoked.pk).values_list("outcome", flat=True)) == {ItemOutcome.KEPT}
        removal = AuditEvent.objects.get(action=AuditAction.MEMBERSHIP_REMOVED)
        assert removal.target_id == f"{revoked.account.account_id}:{group.group_id}"
        assert AuditEvent.objects.filter(action=AuditAction.REVIEW_DECIDED).count() == len(items)

    def test_a_revoked_item_can_be_given_back(self, mirrored, atlassian, alice):
        rita = reviewer("rita")
        [group] = reviewable_groups(mirrored, 1)
        campaign = start(mirrored, alice, [group], reviewer=rita)
        item = campaign.items.first()
        items_decide(items=[item], decision="revoke", reason="unused", user=rita, actor=Actor.for_user(rita))
        campaign_close(campaign=campaign, client=atlassian, actor=Actor.for_user(alice))

        item_restore(item=item, client=atlassian, actor=Actor.for_user(alice), reason="was a mistake")

        item.refresh_from_db()
        assert item.outcome == ItemOutcome.RESTORED
        assert _is_member(item)


class TestUndecidedItems:
    @pytest.mark.parametrize(
        ("setting", "member_after"), [(UndecidedOutcome.KEEP, True), (UndecidedOutcome.REVOKE, False)]
    )
    def test_undecided_items_follow_the_campaigns_setting(self, mirrored, atlassian, alice, setting, member_after):
        rita = reviewer("rita")
        [group] = reviewable_groups(mirrored, 1)
        campaign = start(mirrored, alice, [group], reviewer=rita, undecided=setting)

        campaign_close(campaign=campaign, client=atlassian, actor=Actor.for_user(alice))

        assert all(_is_member(item) is member_after for item in campaign.items.all())
        expected = ItemOutcome.KEPT if member_after else ItemOutcome.REVOKED
        assert set(campaign.items.values_list("outcome", flat=True)) == {expected}


class TestReviewers:
    def test_each_group_goes_to_its_owner_and_the_rest_to_the_fallback(self, mirrored, alice):
        owner, fallback = reviewer("olive"), reviewer("fred")
        owned, other = reviewable_groups(mirrored, 2)
        GroupReviewOwner.objects.create(group=owned, user=owner)

        campaign = start(mirrored, alice, [owned, other], fallback_reviewer=fallback)

        assert set(campaign.items.filter(group=owned).values_list("reviewer", flat=True)) == {owner.pk}
        assert set(campaign.items.filter(group=other).values_list("reviewer", flat=True)) == {fallback.pk}

    def test_a_group_nobody_would_review_is_refused(self, mirrored, alice):
        with pytest.raises(ReviewRefused, match="Nobody would review"):
            start(mirrored, alice, reviewable_groups(mirrored, 1))

    def test_a_reviewer_neither_sees_nor_decides_another_reviewers_items(self, mirrored, alice):
        rita, sam = reviewer("rita"), reviewer("sam")
        first, second = reviewable_groups(mirrored, 2)
        GroupReviewOwner.objects.create(group=first, user=rita)
        GroupReviewOwner.objects.create(group=second, user=sam)
        campaign = start(mirrored, alice, [first, second])
        sams = list(campaign.items.filter(reviewer=sam))

        assert set(items_of(rita).values_list("reviewer", flat=True)) == {rita.pk}
        with pytest.raises(ReviewRefused, match="assigned to you"):
            items_decide(items=sams, decision="revoke", reason="x", user=rita, actor=Actor.for_user(rita))
        assert not campaign.items.exclude(decision="").exists()
        assert items_of(alice).count() == campaign.items.count()


class TestCap:
    def test_closing_over_the_cap_removes_nothing_until_a_person_raises_it(self, mirrored, atlassian, alice):
        rita = reviewer("rita")
        [group] = reviewable_groups(mirrored, 1)
        campaign = start(mirrored, alice, [group], reviewer=rita, undecided=UndecidedOutcome.REVOKE, max_revocations=1)
        assert campaign.items.count() >= 2

        assert campaign_close(campaign=campaign, client=atlassian, actor=Actor.for_user(alice)) == CampaignStatus.HALTED
        assert all(_is_member(item) for item in campaign.items.all())
        assert AuditEvent.objects.filter(action=AuditAction.REVIEW_CAMPAIGN_HALTED).count() == 1
        assert not AuditEvent.objects.filter(action=AuditAction.MEMBERSHIP_REMOVED).exists()

        campaign_raise_cap(campaign=campaign, max_revocations=100, actor=Actor.for_user(alice), reason="reviewed list")
        assert campaign_close(campaign=campaign, client=atlassian, actor=Actor.for_user(alice)) == CampaignStatus.CLOSED
        assert not any(_is_member(item) for item in campaign.items.all())


class TestIdempotentClose:
    def test_closing_twice_removes_once_and_records_one_close(self, mirrored, atlassian, alice):
        rita = reviewer("rita")
        [group] = reviewable_groups(mirrored, 1)
        campaign = start(mirrored, alice, [group], reviewer=rita)
        item = campaign.items.first()
        items_decide(items=[item], decision="revoke", reason="unused", user=rita, actor=Actor.for_user(rita))

        campaign_close(campaign=campaign, client=atlassian, actor=Actor.for_user(alice))
        campaign_close(campaign=campaign, client=atlassian, actor=Actor.for_user(alice))

        assert AuditEvent.objects.filter(action=AuditAction.MEMBERSHIP_REMOVED).count() == 1
        assert AuditEvent.objects.filter(action=AuditAction.REVIEW_CAMPAIGN_CLOSED).count() == 1

    def test_a_closed_campaign_takes_no_more_decisions(self, mirrored, atlassian, alice):
        rita = reviewer("rita")
        [group] = reviewable_groups(mirrored, 1)
        campaign = start(mirrored, alice, [group], reviewer=rita)
        campaign_close(campaign=campaign, client=atlassian, actor=Actor.for_user(alice))

        with pytest.raises(ReviewRefused, match="no longer open"):
            items_decide(
                items=campaign.items.all(), decision="revoke", reason="late", user=rita, actor=Actor.for_user(rita)
            )


class TestDailyJob:
    def test_reviewers_are_reminded_once_ahead_and_the_campaign_closes_after_its_deadline(self, mirrored, alice):
        rita = reviewer("rita")
        [group] = reviewable_groups(mirrored, 1)
        now = timezone.now()
        campaign = start(
            mirrored, alice, [group], reviewer=rita, deadline=now + timedelta(days=5), remind_days_before=2
        )
        item = campaign.items.first()
        items_decide(items=[item], decision="revoke", reason="unused", user=rita, actor=Actor.for_user(rita))

        nothing = {"reminded": 0, "closed": 0, "due": 0, "overdue": 0}
        assert campaigns_daily(now=now + timedelta(days=1)) == nothing
        assert campaigns_daily(now=now + timedelta(days=4)) == {**nothing, "reminded": 1}
        assert campaigns_daily(now=now + timedelta(days=4, hours=1)) == nothing
        assert any("reminder" in message.subject for message in mail.outbox)
        assert campaigns_daily(now=now + timedelta(days=6)) == {**nothing, "closed": 1, "due": 1}

        item.refresh_from_db()
        assert item.outcome == ItemOutcome.REVOKED
        assert not _is_member(item)
