"""Deciding and fulfilling access requests: the auto-approval rules, retries, failure, expiry."""

from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from accounts.models import Account, AccountStatus, Group, Membership
from accounts.services.lifecycle import account_restore, account_suspend
from governance.atlassian.errors import AtlassianError
from governance.audit.models import ActorKind, AuditAction, AuditEvent
from governance.audit.record import Actor
from governance.runs.models import TaskRun
from governance.schedules import declared_jobs
from policies.access.services import (
    AccessRefused,
    access_request_create,
    access_request_decide,
    access_request_fulfil,
    access_requests_expire,
)
from policies.access.tasks import expire_pending_requests
from policies.models import Enforcement, EnforcementStatus, Exemption
from policies.models.access_requests import AccessRequestStatus
from policies.models.exemptions import ExemptionKind
from tests.policies.test_access_support import act

pytestmark = pytest.mark.django_db


def _ask(enforcement, justification="need it"):
    enforcement.refresh_from_db()
    return access_request_create(enforcement=enforcement, nonce=enforcement.nonce, justification=justification)


class Flaky:
    """The simulator's client, except that restoring fails ``times`` times first."""

    def __init__(self, client, times: int, *, retryable: bool = True):
        self.client, self.times, self.retryable, self.calls = client, times, retryable, 0

    def user_restore(self, account_id, *, directory_id):
        self.calls += 1
        if self.calls <= self.times:
            raise AtlassianError(
                "Service unavailable", status=503, retryable=self.retryable, method="POST", path="/restore"
            )
        return self.client.user_restore(account_id, directory_id=directory_id)

    def __getattr__(self, name):
        return getattr(self.client, name)


class TestAutoApproval:
    def test_self_service_policies_approve_automatically(self, make_policy):
        request = _ask(act(make_policy()))
        assert request.status == AccessRequestStatus.AUTO_APPROVED
        assert "self-service" in request.decision_reason
        assert AuditEvent.objects.filter(action=AuditAction.REQUEST_AUTO_APPROVED).count() == 1

    def test_without_self_service_it_waits_and_admins_are_told(self, make_policy, admin_inbox):
        request = _ask(act(make_policy(self_service_restore=False)))
        assert request.status == AccessRequestStatus.PENDING
        assert "does not allow self-service restore" in request.decision_reason
        assert request.expires_at > timezone.now() + timedelta(days=13)
        assert any(admin_inbox in m.to and "waits for a decision" in m.subject for m in mail.outbox)

    @pytest.mark.parametrize("subject", ["account", "email_pattern", "group"])
    def test_a_never_restore_rule_sends_it_to_the_help_desk(self, make_policy, subject):
        enforcement = act(make_policy())
        account = enforcement.account
        rule = {"account": account}
        if subject == "email_pattern":
            rule = {"email_pattern": "*@" + account.email.split("@")[1].upper()}
        elif subject == "group":
            group = Group.objects.create(organization=account.organization, group_id="g-offboarded", name="offboarded")
            Membership.objects.create(account=account, group=group)
            rule = {"group": group}
        Exemption.objects.create(
            organization=account.organization, kind=ExemptionKind.NEVER_RESTORE, reason="offboarded staff", **rule
        )
        request = _ask(enforcement)
        assert request.status == AccessRequestStatus.PENDING
        assert "never-restore rule applies: offboarded staff" in request.decision_reason

    def test_an_expired_or_other_policy_rule_does_not_apply(self, make_policy):
        enforcement = act(make_policy())
        org, account = enforcement.account.organization, enforcement.account
        Exemption.objects.create(
            organization=org,
            kind=ExemptionKind.NEVER_RESTORE,
            account=account,
            reason="old",
            expires_at=timezone.now() - timedelta(days=1),
        )
        Exemption.objects.create(
            organization=org,
            kind=ExemptionKind.NEVER_RESTORE,
            account=account,
            reason="other policy",
            policy=make_policy(name="another"),
        )
        Exemption.objects.create(organization=org, kind=ExemptionKind.EXEMPT, account=account, reason="not a deny")
        assert _ask(enforcement).status == AccessRequestStatus.AUTO_APPROVED

    def test_an_account_an_admin_changed_after_the_policy_waits(self, make_policy, atlassian, alice):
        enforcement = act(make_policy())
        account = enforcement.account
        admin = Actor.for_user(alice)
        account_restore(account=account, client=atlassian, actor=admin, reason="checking")
        account_suspend(account=account, client=atlassian, actor=admin, reason="offboarding")
        request = _ask(enforcement)
        assert request.status == AccessRequestStatus.PENDING
        assert "administrator changed this account" in request.decision_reason

    def test_an_account_in_another_state_than_the_policy_left_it_waits(self, make_policy):
        enforcement = act(make_policy())
        Account.objects.filter(pk=enforcement.account_id).update(status=AccountStatus.DEACTIVATED)
        request = _ask(enforcement)
        assert request.status == AccessRequestStatus.PENDING
        assert "it was changed after the policy acted" in request.decision_reason


class TestFulfilment:
    def test_transient_errors_are_retried_a_bounded_number_of_times(self, make_policy, atlassian, simulator):
        enforcement = act(make_policy())
        request = _ask(enforcement)
        waits = []
        flaky = Flaky(atlassian, times=2)
        status = access_request_fulfil(access_request=request, client=flaky, sleep=waits.append)
        assert status == AccessRequestStatus.FULFILLED
        assert waits == [2.0, 4.0]
        request.refresh_from_db()
        assert request.attempts == 3
        assert simulator.state.user(enforcement.account.account_id).status == "active"

    def test_a_lasting_error_ends_in_a_clear_failed_state(self, make_policy, atlassian, simulator, admin_inbox):
        enforcement = act(make_policy())
        request = _ask(enforcement)
        status = access_request_fulfil(access_request=request, client=Flaky(atlassian, times=99), sleep=lambda s: None)
        assert status == AccessRequestStatus.FAILED
        request.refresh_from_db()
        assert request.attempts == 3
        assert "Service unavailable" in request.error
        assert "HTTP 503" in request.error
        assert simulator.state.user(enforcement.account.account_id).status == "suspended"
        failed = AuditEvent.objects.get(action=AuditAction.REQUEST_FAILED)
        assert failed.correlation_id == request.correlation_id
        assert any("could not give your Atlassian access back" in m.subject for m in mail.outbox)
        assert any(admin_inbox in m.to and "failed" in m.subject for m in mail.outbox)

    def test_a_permanent_error_is_not_retried(self, make_policy, atlassian):
        request = _ask(act(make_policy()))
        waits = []
        flaky = Flaky(atlassian, times=99, retryable=False)
        assert access_request_fulfil(access_request=request, client=flaky, sleep=waits.append) == "failed"
        assert flaky.calls == 1
        assert waits == []

    def test_a_failed_request_approved_again_is_retried(self, make_policy, atlassian, hank, simulator):
        enforcement = act(make_policy())
        request = _ask(enforcement)
        access_request_fulfil(access_request=request, client=Flaky(atlassian, times=99), sleep=lambda s: None)
        request.refresh_from_db()
        access_request_decide(access_request=request, approve=True, actor=Actor.for_user(hank), reason="retry")
        assert access_request_fulfil(access_request=request, client=atlassian) == AccessRequestStatus.FULFILLED
        assert simulator.state.user(enforcement.account.account_id).status == "active"

    def test_fulfilling_twice_acts_once(self, make_policy, atlassian):
        request = _ask(act(make_policy()))
        assert access_request_fulfil(access_request=request, client=atlassian) == AccessRequestStatus.FULFILLED
        events = AuditEvent.objects.count()
        assert access_request_fulfil(access_request=request, client=atlassian) == AccessRequestStatus.FULFILLED
        assert AuditEvent.objects.count() == events

    def test_an_account_already_active_again_is_just_recorded(self, make_policy, atlassian):
        enforcement = act(make_policy())
        request = _ask(enforcement)
        account_restore(account=enforcement.account, client=atlassian, actor=Actor.system(), reason="by hand")
        assert access_request_fulfil(access_request=request, client=atlassian) == AccessRequestStatus.FULFILLED
        enforcement.refresh_from_db()
        assert enforcement.status == EnforcementStatus.REVERSED
        fulfilled = AuditEvent.objects.get(action=AuditAction.REQUEST_FULFILLED)
        assert fulfilled.after["outcome"] == "the account was already active again"

    def test_removed_product_access_comes_back_exactly(self, make_policy, atlassian, simulator):
        enforcement = act(make_policy(action="remove_product_access"))
        if enforcement is None:
            pytest.skip("every due account gets Jira through an IdP group in this seed")
        account = enforcement.account
        assert "jira-software" not in simulator.state.user(account.account_id).products
        request = _ask(enforcement)
        assert access_request_fulfil(access_request=request, client=atlassian) == AccessRequestStatus.FULFILLED
        assert "jira-software" in simulator.state.user(account.account_id).products
        for group_id in enforcement.removed["groups"]:
            assert Membership.objects.filter(account=account, group__group_id=group_id).exists()
        account.refresh_from_db()
        assert account.restored_at is not None


class TestDecisionsAndExpiry:
    def test_a_reason_is_required(self, make_policy, hank):
        request = _ask(act(make_policy(self_service_restore=False)))
        with pytest.raises(AccessRefused, match="reason is required"):
            access_request_decide(access_request=request, approve=True, actor=Actor.for_user(hank), reason=" ")
        request.refresh_from_db()
        assert request.status == AccessRequestStatus.PENDING

    def test_a_rejection_tells_the_person_why(self, make_policy, hank):
        request = _ask(act(make_policy(self_service_restore=False)))
        desk = Actor.for_user(hank, kind=ActorKind.HELP_DESK)
        access_request_decide(access_request=request, approve=False, actor=desk, reason="left the company")
        request.refresh_from_db()
        assert request.status == AccessRequestStatus.REJECTED
        assert request.decided_by == hank
        message = next(m for m in mail.outbox if "declined" in m.subject)
        assert message.to == [request.email]
        assert "left the company" in message.body
        event = AuditEvent.objects.get(action=AuditAction.REQUEST_REJECTED)
        assert (event.actor_kind, event.actor_name, event.reason) == (ActorKind.HELP_DESK, "hank", "left the company")

    def test_a_deletion_past_the_grace_cannot_be_approved(self, make_policy, hank):
        enforcement = act(make_policy(action="delete", claim_scope="managed", self_service_restore=False))
        request = _ask(enforcement)
        with (
            time_machine.travel(enforcement.executed_at + timedelta(days=15)),
            pytest.raises(AccessRefused, match="new invitation"),
        ):
            access_request_decide(access_request=request, approve=True, actor=Actor.for_user(hank), reason="ok")

    def test_pending_requests_expire_and_the_person_is_told(self, make_policy, settings):
        settings.ACCESS_REQUEST_EXPIRY_DAYS = 14
        request = _ask(act(make_policy(self_service_restore=False)))
        assert access_requests_expire(now=timezone.now() + timedelta(days=13)) == 0
        with time_machine.travel(timezone.now() + timedelta(days=14, minutes=1)):
            assert expire_pending_requests() == {"expired": 1}
        request.refresh_from_db()
        assert request.status == AccessRequestStatus.EXPIRED
        assert AuditEvent.objects.filter(action=AuditAction.REQUEST_EXPIRED).count() == 1
        assert any("expired" in m.subject and request.email in m.to for m in mail.outbox)
        assert TaskRun.objects.filter(name="access_request_expiry", status="succeeded").exists()
        assert expire_pending_requests() == {"expired": 0}

    def test_the_jobs_are_declared(self):
        jobs = {job.name: job for job in declared_jobs()}
        assert jobs["portal:access-expire-requests"].func == "policies.access.tasks.expire_pending_requests"
        assert "portal:access-purge-rate-limits" in jobs


def test_enforcement_nonce_rotates_when_a_request_is_made(make_policy):
    enforcement = act(make_policy())
    before = Enforcement.objects.get(pk=enforcement.pk).nonce
    _ask(enforcement)
    assert Enforcement.objects.get(pk=enforcement.pk).nonce != before
