"""The review queue: approving and rejecting queued enforcements, one or many, with a reason."""

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Organization
from governance.audit.models import AuditAction, AuditEvent
from policies.models import Enforcement, EnforcementStatus, PolicyMode
from policies.services.runs import policy_run
from tests.policies.conftest import RUN_AT

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:policies_enforcement_changelist"


@pytest.fixture
def queued(make_policy):
    """A review-mode run has queued the due accounts; the sync is fresh for the approvals."""
    policy = make_policy(mode=PolicyMode.REVIEW)
    policy_run(policy=policy, now=RUN_AT)
    Organization.objects.filter(pk=policy.organization_id).update(last_complete_sync_at=timezone.now())
    items = list(Enforcement.objects.filter(status=EnforcementStatus.AWAITING_REVIEW).order_by("pk"))
    assert len(items) >= 3
    return items


def _post_action(client, action, items, **extra):
    data = {"action": action, "index": "0", "_selected_action": [e.pk for e in items], **extra}
    return client.post(reverse(CHANGELIST), data, follow=bool(extra.get("_confirm")))


class TestQueue:
    def test_the_queue_is_the_awaiting_review_filter(self, queued, client_for, alice):
        client = client_for(alice)
        page = client.get(reverse(CHANGELIST)).content.decode()
        assert f"Review queue ({len(queued)})" in page
        queue = client.get(reverse(CHANGELIST) + "?status__exact=awaiting_review")
        assert queue.status_code == 200
        assert queue.context["cl"].result_count == len(queued)

    def test_an_enforcement_page_offers_approve_and_reject_to_reviewers(self, queued, client_for, alice):
        page = client_for(alice).get(reverse("admin:policies_enforcement_change", args=[queued[0].pk]))
        text = page.content.decode()
        assert 'id="enforcement-approve"' in text
        assert 'id="enforcement-reject"' in text
        assert 'name="_save"' not in text  # read-only otherwise


class TestApprove:
    def test_approving_asks_for_a_reason_first(self, queued, client_for, alice, simulator):
        response = _post_action(client_for(alice), "approve_selected", queued[:1])
        assert response.status_code == 200
        assert "Reason" in response.content.decode()
        assert Enforcement.objects.get(pk=queued[0].pk).status == EnforcementStatus.AWAITING_REVIEW

    def test_a_blank_reason_is_refused_and_nothing_happens(self, queued, client_for, alice, simulator):
        response = _post_action(client_for(alice), "approve_selected", queued[:1], _confirm="1", reason="   ")
        assert "Give a reason" in response.content.decode()
        assert Enforcement.objects.get(pk=queued[0].pk).status == EnforcementStatus.AWAITING_REVIEW
        assert not AuditEvent.objects.filter(action=AuditAction.ENFORCEMENT_APPROVED).exists()
        assert simulator.state.user(queued[0].account.account_id).status == "active"

    def test_approving_one_acts_on_it_and_records_who_and_why(self, queued, client_for, alice, simulator):
        item = queued[0]
        response = _post_action(client_for(alice), "approve_selected", [item], _confirm="1", reason="checked with HR")
        item.refresh_from_db()
        assert item.status == EnforcementStatus.DONE
        assert item.decided_by == alice
        assert item.decision_note == "checked with HR"
        assert simulator.state.user(item.account.account_id).status == "suspended"
        event = AuditEvent.objects.get(action=AuditAction.ENFORCEMENT_APPROVED)
        assert (event.actor_name, event.reason, event.target_id) == ("alice", "checked with HR", str(item.pk))
        assert "Approved and carried out: 1" in response.content.decode()
        assert all(Enforcement.objects.get(pk=e.pk).status == EnforcementStatus.AWAITING_REVIEW for e in queued[1:])

    def test_approving_in_bulk_reports_each_item(self, queued, client_for, alice, simulator):
        already = queued[0]
        Enforcement.objects.filter(pk=already.pk).update(status=EnforcementStatus.REJECTED)
        response = _post_action(client_for(alice), "approve_selected", queued[:3], _confirm="1", reason="bulk ok")
        text = response.content.decode()
        assert "Approved and carried out: 2" in text
        assert "Not awaiting review, left alone: 1" in text
        assert (
            Enforcement.objects.filter(pk__in=[e.pk for e in queued[1:3]], status=EnforcementStatus.DONE).count() == 2
        )
        assert Enforcement.objects.get(pk=already.pk).status == EnforcementStatus.REJECTED

    def test_approval_on_a_stale_sync_is_refused_per_item(self, queued, client_for, alice, settings):
        Organization.objects.update(last_complete_sync_at=timezone.now() - timezone.timedelta(hours=40))
        settings.POLICY_MAX_SYNC_AGE = 26
        response = _post_action(client_for(alice), "approve_selected", queued[:2], _confirm="1", reason="go")
        assert "Not approved: 2" in response.content.decode()
        assert Enforcement.objects.filter(status=EnforcementStatus.AWAITING_REVIEW).count() == len(queued)


class TestReject:
    def test_rejecting_without_a_reason_is_refused(self, queued, client_for, alice):
        response = _post_action(client_for(alice), "reject_selected", queued[:1], _confirm="1", reason="")
        assert "Give a reason" in response.content.decode()
        assert Enforcement.objects.get(pk=queued[0].pk).status == EnforcementStatus.AWAITING_REVIEW

    def test_rejecting_in_bulk_changes_nothing_in_atlassian(self, queued, client_for, alice, simulator):
        response = _post_action(client_for(alice), "reject_selected", queued, _confirm="1", reason="contractors")
        assert f"Rejected: {len(queued)}" in response.content.decode()
        assert Enforcement.objects.filter(status=EnforcementStatus.REJECTED).count() == len(queued)
        assert AuditEvent.objects.filter(action=AuditAction.ENFORCEMENT_REJECTED, reason="contractors").count() == len(
            queued
        )
        assert all(simulator.state.user(e.account.account_id).status == "active" for e in queued)

    def test_select_all_across_pages_rejects_the_whole_filter(self, queued, client_for, alice):
        url = reverse(CHANGELIST) + "?status__exact=awaiting_review"
        data = {
            "action": "reject_selected",
            "index": "0",
            "select_across": "1",
            "_selected_action": [queued[0].pk],
            "_confirm": "1",
            "reason": "all of them",
        }
        client_for(alice).post(url, data)
        assert not Enforcement.objects.filter(status=EnforcementStatus.AWAITING_REVIEW).exists()


class TestWhoMayReview:
    @pytest.mark.parametrize("persona", ["audrey", "hank"])
    @pytest.mark.parametrize("action", ["approve_selected", "reject_selected"])
    def test_others_get_403_and_change_nothing(self, request, queued, client_for, persona, action):
        client = client_for(request.getfixturevalue(persona))
        assert _post_action(client, action, queued[:1]).status_code == 403
        assert _post_action(client, action, queued[:1], _confirm="1", reason="x").status_code == 403
        assert Enforcement.objects.filter(status=EnforcementStatus.AWAITING_REVIEW).count() == len(queued)
        page = client.get(reverse("admin:policies_enforcement_change", args=[queued[0].pk])).content.decode()
        assert 'id="enforcement-approve"' not in page

    def test_an_auditor_sees_the_queue_without_actions(self, queued, client_for, audrey):
        page = client_for(audrey).get(reverse(CHANGELIST) + "?status__exact=awaiting_review")
        assert page.status_code == 200
        assert 'name="action"' not in page.content.decode()
