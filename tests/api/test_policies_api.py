"""Policies through the API: preview as JSON, run now, exemptions, the review queue and access
requests, each write through the admin's service and audited with the API as the channel."""

from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from accounts.models import Organization
from governance.audit.models import ActorKind, AuditAction, AuditEvent
from governance.runs.models import RunStatus, RunTrigger, TaskRun
from policies.models import AccessRequest, Enforcement, EnforcementStatus, Exemption, PolicyMode
from policies.models.access_requests import AccessRequestStatus
from policies.selectors.preview import policy_preview
from tests import taskqueue
from tests.factories import AccountFactory, OrganizationFactory

pytestmark = pytest.mark.django_db


def _api_events(action) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action, actor_kind=ActorKind.API))


@pytest.fixture
def fresh(mirrored):
    """The simulator's sync counts as just done (its clock does not move with ours)."""
    Organization.objects.filter(pk=mirrored.pk).update(last_complete_sync_at=timezone.now())
    return mirrored


# --- preview and run ---------------------------------------------------------------------------------
class TestPreview:
    def test_it_gives_the_admin_previews_decisions_as_json(self, api_as, audrey, make_policy, fresh):
        policy = make_policy(warning_days=[14])
        url = reverse("api:policy-preview", args=[policy.pk])
        with time_machine.travel(timezone.now(), tick=False):
            expected = policy_preview(policy, timezone.now())
            body = api_as(audrey).get(url, {"limit": 1000}).json()
        assert body["fresh"] is True
        assert body["scope_size"] == expected.scope_size
        assert body["today_counts"] == expected.today_counts
        assert body["count"] == len(expected.rows) > 0
        assert [(r["account"], r["today"]) for r in body["decisions"]] == [
            (r.account_pk, r.today) for r in expected.rows
        ]
        assert all(r["reason"] for r in body["decisions"])

    def test_show_and_paging(self, api_as, audrey, make_policy, fresh):
        policy = make_policy()
        client = api_as(audrey)
        url = reverse("api:policy-preview", args=[policy.pk])
        everything = client.get(url, {"show": "today", "limit": 1000}).json()
        assert {r["today"] for r in everything["decisions"]} <= {"act", "warn", "cancel"}
        page = client.get(url, {"show": "today", "offset": 1, "limit": 2}).json()
        assert [r["account"] for r in page["decisions"]] == [r["account"] for r in everything["decisions"][1:3]]
        assert page["count"] == everything["count"]
        assert client.get(url, {"show": "nobody"}).status_code == 400
        assert client.get(url, {"limit": 0}).status_code == 400

    def test_a_preview_changes_nothing(self, api_as, audrey, make_policy, fresh):
        policy = make_policy()
        events, runs = AuditEvent.objects.count(), TaskRun.objects.count()
        api_as(audrey).get(reverse("api:policy-preview", args=[policy.pk]))
        assert (AuditEvent.objects.count(), TaskRun.objects.count()) == (events, runs)
        assert not Enforcement.objects.exists()


class TestRunNow:
    def test_a_dry_run_reports_and_changes_nothing(self, token_client, alice, make_policy, simulator, fresh):
        policy = make_policy()
        response = token_client(alice).post(
            reverse("api:policy-run", args=[policy.pk]), {"dry_run": True}, format="json"
        )
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["status"] == RunStatus.SUCCEEDED
        assert body["counts"]["to_act"] > 0
        run = TaskRun.objects.get(pk=body["run"])
        assert run.trigger == RunTrigger.API
        assert not Enforcement.objects.exists()
        (event,) = _api_events(AuditAction.POLICY_RUN_COMPLETED)
        assert event.actor_user_id == alice.pk

    def test_run_now_acts_through_the_same_service_and_is_audited_as_the_api(
        self, api_as, alice, make_policy, simulator, fresh
    ):
        policy = make_policy()
        body = api_as(alice).post(reverse("api:policy-run", args=[policy.pk]), {}, format="json").json()
        assert body["status"] == RunStatus.SUCCEEDED
        done = Enforcement.objects.filter(policy=policy, status=EnforcementStatus.DONE)
        assert done.count() == body["counts"]["executed_done"] > 0
        for enforcement in done.select_related("account"):
            assert simulator.state.user(enforcement.account.account_id).status == "suspended"
        suspended = _api_events(AuditAction.ACCOUNT_SUSPENDED)
        assert len(suspended) == done.count()
        assert {e.correlation_id for e in suspended} == {body["correlation_id"]}

    def test_a_stale_sync_is_a_refused_run_not_an_error(self, api_as, alice, make_policy, fresh):
        policy = make_policy()
        Organization.objects.filter(pk=fresh.pk).update(last_complete_sync_at=timezone.now() - timedelta(days=3))
        body = api_as(alice).post(reverse("api:policy-run", args=[policy.pk]), {}, format="json").json()
        assert body["status"] == RunStatus.REFUSED
        assert "hours old" in body["message"]
        assert not Enforcement.objects.exists()

    def test_dry_run_must_be_a_boolean(self, api_as, alice, make_policy, fresh):
        policy = make_policy()
        response = api_as(alice).post(
            reverse("api:policy-run", args=[policy.pk]), {"dry_run": "perhaps"}, format="json"
        )
        assert response.status_code == 400
        assert "dry_run" in response.json()


# --- the review queue ------------------------------------------------------------------------------------
class TestReview:
    @pytest.fixture
    def queued(self, make_policy, fresh, api_as, alice):
        policy = make_policy(mode=PolicyMode.REVIEW)
        api_as(alice).post(reverse("api:policy-run", args=[policy.pk]), {}, format="json")
        items = list(Enforcement.objects.filter(status=EnforcementStatus.AWAITING_REVIEW).select_related("account"))
        assert len(items) >= 2
        return items

    def test_approving_acts_now(self, api_as, alice, simulator, queued):
        item = queued[0]
        response = api_as(alice).post(
            reverse("api:enforcement-approve", args=[item.pk]), {"reason": "ok"}, format="json"
        )
        assert response.status_code == 200, response.content
        assert response.json()["status"] == EnforcementStatus.DONE
        assert response.json()["enforcement"]["status"] == EnforcementStatus.DONE
        assert simulator.state.user(item.account.account_id).status == "suspended"
        (event,) = _api_events(AuditAction.ENFORCEMENT_APPROVED)
        assert (event.target_id, event.reason, event.actor_user_id) == (str(item.pk), "ok", alice.pk)

    def test_rejecting_does_nothing_to_the_account_and_a_second_decision_is_409(self, api_as, alice, simulator, queued):
        item = queued[1]
        client = api_as(alice)
        url = reverse("api:enforcement-reject", args=[item.pk])
        assert (
            client.post(url, {"reason": "keeps access"}, format="json").json()["status"] == EnforcementStatus.REJECTED
        )
        assert simulator.state.user(item.account.account_id).status == "active"
        again = client.post(url, {"reason": "again"}, format="json")
        assert again.status_code == 409
        assert "not awaiting review" in again.json()["detail"]
        assert len(_api_events(AuditAction.ENFORCEMENT_REJECTED)) == 1

    def test_a_reason_is_required(self, api_as, alice, queued):
        response = api_as(alice).post(reverse("api:enforcement-reject", args=[queued[0].pk]), {}, format="json")
        assert response.status_code == 400
        assert "reason" in response.json()

    def test_the_queue_is_a_filter_of_the_list(self, api_as, audrey, queued):
        rows = api_as(audrey).get(reverse("api:enforcement-list"), {"status": "awaiting_review", "page_size": 1000})
        assert {r["id"] for r in rows.json()["results"]} == {e.pk for e in queued}
        assert "nonce" not in rows.json()["results"][0]


# --- exemptions --------------------------------------------------------------------------------------------
class TestExemptions:
    URL = reverse("api:exemption-list")

    def test_creating_goes_through_the_service_and_is_audited(self, api_as, alice, mirror):
        account = mirror["accounts"][0]
        expires = (timezone.now() + timedelta(days=30)).isoformat()
        body = {
            "organization": mirror["org"].pk,
            "account": account.pk,
            "reason": "on parental leave",
            "expires_at": expires,
        }
        response = api_as(alice).post(self.URL, body, format="json")
        assert response.status_code == 201, response.content
        exemption = Exemption.objects.get(pk=response.json()["id"])
        assert (exemption.account, exemption.created_by, exemption.kind) == (account, alice, "exempt")
        (event,) = _api_events(AuditAction.EXEMPTION_CREATED)
        assert (event.target_id, event.reason) == (str(exemption.pk), "on parental leave")

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"account": None}, "non_field_errors"),  # names no one
            ({"email_pattern": "*@example.com"}, "non_field_errors"),  # names two
            ({"reason": ""}, "reason"),
            ({"expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
            ({"expires_at": "soon"}, "expires_at"),
            ({"kind": "forever"}, "kind"),
            ({"account": 999999}, "account"),
            ({"organization": None}, "organization"),
        ],
    )
    def test_bad_input_is_400_with_field_errors(self, api_as, alice, mirror, change, field):
        body = {"organization": mirror["org"].pk, "account": mirror["accounts"][0].pk, "reason": "x", **change}
        response = api_as(alice).post(self.URL, body, format="json")
        assert response.status_code == 400
        assert field in response.json(), response.json()
        assert not Exemption.objects.exists()

    def test_an_account_of_another_organization_is_refused_as_in_the_admin(self, api_as, alice, mirror):
        stranger = AccountFactory(organization=OrganizationFactory(org_id="other-org"))
        body = {"organization": mirror["org"].pk, "account": stranger.pk, "reason": "x"}
        response = api_as(alice).post(self.URL, body, format="json")
        assert response.status_code == 400
        assert "Not in organization" in response.json()["account"][0]

    def test_expiring_is_audited_and_only_once(self, api_as, alice, mirror):
        exemption = Exemption.objects.create(organization=mirror["org"], email_pattern="*@board.example", reason="x")
        client = api_as(alice)
        url = reverse("api:exemption-expire", args=[exemption.pk])
        response = client.post(url, {"reason": "left the board"}, format="json")
        assert response.status_code == 200
        assert response.json()["state"] == "expired"
        assert client.post(url, {"reason": "again"}, format="json").status_code == 409
        assert len(_api_events(AuditAction.EXEMPTION_EXPIRED)) == 1
        assert client.get(self.URL, {"state": "expired"}).json()["results"][0]["id"] == exemption.pk
        assert client.get(self.URL, {"state": "active"}).json()["results"] == []


# --- access requests ------------------------------------------------------------------------------------
@pytest.fixture
def pending(mirror):
    from policies.models import InactivityPolicy

    account = mirror["accounts"][1]
    policy = InactivityPolicy.objects.create(organization=mirror["org"], name="Jira 90 days", action="suspend")
    enforcement = Enforcement.objects.create(
        policy=policy,
        account=account,
        status=EnforcementStatus.DONE,
        action="suspend",
        reason="inactive",
        due_at=timezone.now() - timedelta(days=1),
        executed_at=timezone.now() - timedelta(days=1),
    )
    return AccessRequest.objects.create(account=account, enforcement=enforcement, email=account.email)


class TestAccessRequests:
    def test_help_desk_approves_and_the_fulfilment_is_queued(
        self, api_as, hank, pending, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            response = api_as(hank).post(
                reverse("api:accessrequest-approve", args=[pending.pk]),
                {"reason": "confirmed by manager"},
                format="json",
            )
        assert response.status_code == 200, response.content
        assert response.json()["access_request"]["status"] == AccessRequestStatus.APPROVED
        assert taskqueue.queue_size() == 1
        (event,) = _api_events(AuditAction.REQUEST_APPROVED)
        assert (event.actor_user_id, event.correlation_id) == (hank.pk, pending.correlation_id)

    def test_rejecting_tells_the_person_and_cannot_be_done_twice(self, api_as, hank, pending, mailoutbox):
        client = api_as(hank)
        url = reverse("api:accessrequest-reject", args=[pending.pk])
        assert client.post(url, {"reason": "no longer on the project"}, format="json").status_code == 200
        assert len(mailoutbox) == 1
        again = client.post(url, {"reason": "again"}, format="json")
        assert again.status_code == 409
        assert "cannot be rejected" in again.json()["detail"]

    def test_the_list_filters_by_status(self, api_as, audrey, pending):
        rows = api_as(audrey).get(reverse("api:accessrequest-list"), {"status": "pending"}).json()["results"]
        assert [r["id"] for r in rows] == [pending.pk]
        assert api_as(audrey).get(reverse("api:accessrequest-list"), {"status": "granted"}).status_code == 400
        pending_too = api_as(audrey).get(reverse("api:accessrequest-list"), {"decision": "pending"}).json()
        assert [r["id"] for r in pending_too["results"]] == [pending.pk]
        assert api_as(audrey).get(reverse("api:accessrequest-list"), {"decision": "closed"}).json()["results"] == []
