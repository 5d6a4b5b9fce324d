"""Returning staff, end to end against the simulator: an account a policy acted on comes back
(the sync sees it active again, or its return date comes) and gets back exactly what was taken,
automatically where the policy restores returning staff, otherwise through the help desk."""

from datetime import datetime, time, timedelta

import pytest
import time_machine
from django.utils import timezone

from accounts.models import Account, AccountStatus
from accounts.services.errors import ServiceRefused
from accounts.services.returns import account_return_date_set
from accounts.sync.runner import organization_sync
from governance.audit.models import AuditAction, AuditEvent
from governance.audit.record import Actor
from governance.audit.verify import verify_chain
from governance.runs.models import TaskRun
from policies.access.returns import restore_on_return_dates
from policies.access.tasks import restore_on_return_dates as restore_on_return_dates_task
from policies.models import AccessRequest, Enforcement, EnforcementStatus
from policies.models.access_requests import AccessRequestStatus
from tests.policies.conftest import RUN_AT
from tests.policies.test_access_support import act, emails_to, run

pytestmark = pytest.mark.django_db
HELP_DESK = Actor.system("help desk test")


def _sync(organization, atlassian):
    # Days pass between the policy's change and the syncs that see the person leave and come back:
    # a sync defers an account the portal changed minutes before its pages (accounts/sync/users.py).
    Account.objects.update(portal_changed_at=timezone.now() - timedelta(days=1))
    assert organization_sync(organization=organization, client=atlassian).ok


def _groups(simulator, account_id) -> set[str]:
    return set(simulator.state.user(account_id).groups)


def _returned_events(account) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(
            action=AuditAction.ACCOUNT_RETURNED, target_type="accounts.account", target_id=str(account.pk)
        )
    )


def _remove_jira_then_leave_and_come_back(make_policy, simulator, mirrored, atlassian, **policy_fields):
    """A policy takes Jira from one idle person; the identity provider then suspends the account
    and later re-activates it, each seen by a sync. Returns (enforcement, groups before the policy)."""
    policy = make_policy(action="remove_product_access", **policy_fields)
    run(policy, RUN_AT)
    enforcement = Enforcement.objects.filter(policy=policy, status=EnforcementStatus.DONE).first()
    assert enforcement is not None
    assert enforcement.removed.get("groups")
    account_id = enforcement.account.account_id
    state = simulator.state
    kept = _groups(simulator, account_id)
    before = kept | {state.group_by_id(gid).name for gid in enforcement.removed["groups"]}
    assert kept != before  # the policy did take groups
    state.suspend(state.account(account_id))
    _sync(mirrored, atlassian)
    assert Account.objects.get(pk=enforcement.account_id).status == AccountStatus.SUSPENDED
    state.restore(state.account(account_id))
    return enforcement, before


def test_a_returning_account_gets_back_exactly_the_groups_the_policy_took(make_policy, simulator, mirrored, atlassian):
    enforcement, before = _remove_jira_then_leave_and_come_back(
        make_policy, simulator, mirrored, atlassian, restore_returning=True
    )
    account_id = enforcement.account.account_id
    _sync(mirrored, atlassian)

    assert _groups(simulator, account_id) == before  # exactly what it had: nothing missing, nothing more
    enforcement.refresh_from_db()
    assert enforcement.status == EnforcementStatus.REVERSED
    access_request = AccessRequest.objects.get(enforcement=enforcement)
    assert access_request.status == AccessRequestStatus.FULFILLED
    account = Account.objects.get(pk=enforcement.account_id)
    assert account.restored_at is not None
    assert len(emails_to(account.email, "access is back")) == 1
    trail = list(
        AuditEvent.objects.filter(correlation_id=access_request.correlation_id)
        .order_by("seq")
        .values_list("action", flat=True)
    )
    assert trail[:2] == [AuditAction.REQUEST_CREATED, AuditAction.REQUEST_AUTO_APPROVED]
    assert trail[-1] == AuditAction.REQUEST_FULFILLED
    assert AuditAction.MEMBERSHIP_ADDED in trail
    [returned] = _returned_events(account)
    assert returned.after == {"restored": [enforcement.pk]}
    assert verify_chain().ok

    # Another sync: the account is active already, nothing new to do, nothing sent.
    writes = len(simulator.writes_for(account_id))
    _sync(mirrored, atlassian)
    assert len(simulator.writes_for(account_id)) == writes
    assert len(_returned_events(account)) == 1
    assert AccessRequest.objects.filter(account=account).count() == 1


def test_without_the_flag_the_help_desk_gets_a_request_and_nothing_is_given_back(
    make_policy, simulator, mirrored, atlassian, admin_inbox
):
    enforcement, _before = _remove_jira_then_leave_and_come_back(make_policy, simulator, mirrored, atlassian)
    account_id = enforcement.account.account_id
    kept = _groups(simulator, account_id)
    _sync(mirrored, atlassian)

    assert _groups(simulator, account_id) == kept  # nothing given back yet
    access_request = AccessRequest.objects.get(enforcement=enforcement)
    assert access_request.status == AccessRequestStatus.PENDING
    assert "does not restore returning staff" in access_request.decision_reason
    assert emails_to(admin_inbox, f"Access request #{access_request.pk} waits for a decision")
    enforcement.refresh_from_db()
    assert enforcement.status == EnforcementStatus.DONE
    [returned] = _returned_events(enforcement.account)
    assert returned.after == {"help_desk": [enforcement.pk]}

    # Idempotent: a second sync (or the hook run again) opens no second request.
    _sync(mirrored, atlassian)
    assert AccessRequest.objects.filter(enforcement=enforcement).count() == 1


def test_a_suspended_account_active_again_is_settled_without_any_call_to_atlassian(
    make_policy, simulator, mirrored, atlassian
):
    policy = make_policy(restore_returning=True)
    enforcement = act(policy)
    account_id = enforcement.account.account_id
    state = simulator.state
    assert state.user(account_id).status == "suspended"
    state.restore(state.account(account_id))  # re-activated outside the portal
    writes = len(simulator.writes_for(account_id))
    _sync(mirrored, atlassian)

    assert len(simulator.writes_for(account_id)) == writes  # the suspension ended already: nothing more to do
    enforcement.refresh_from_db()
    assert enforcement.status == EnforcementStatus.REVERSED
    assert AccessRequest.objects.get(enforcement=enforcement).status == AccessRequestStatus.FULFILLED
    account = Account.objects.get(pk=enforcement.account_id)
    assert account.status == AccountStatus.ACTIVE
    assert account.restored_at is not None
    # The next run counts from the return: the person is not suspended again the same day.
    run(policy, now=RUN_AT + timedelta(hours=2))
    assert state.user(account_id).status == "active"


def _local_day_at(day, hour: int) -> datetime:
    return timezone.make_aware(datetime.combine(day, time(hour)))


def test_a_return_date_restores_on_the_day_and_tells_the_person(make_policy, simulator, mirrored, atlassian):
    policy = make_policy()  # no "restore returning staff": the return date is an operator's decision
    enforcement = act(policy)
    account = Account.objects.get(pk=enforcement.account_id)
    now = RUN_AT + timedelta(hours=1)
    day = timezone.localdate(now) + timedelta(days=3)
    account_return_date_set(account=account, return_on=day, actor=HELP_DESK, reason="back from leave", now=now)
    assert AuditEvent.objects.filter(action=AuditAction.ACCOUNT_RETURN_DATE_SET, target_id=str(account.pk)).exists()

    assert restore_on_return_dates(now=_local_day_at(day - timedelta(days=1), 12), client=atlassian) == {}
    assert simulator.state.user(account.account_id).status == "suspended"

    counts = restore_on_return_dates(now=_local_day_at(day, 6), client=atlassian)
    assert counts == {"accounts": 1, "restored": 1}
    assert simulator.state.user(account.account_id).status == "active"
    account.refresh_from_db()
    assert account.status == AccountStatus.ACTIVE
    assert account.return_on is None
    assert account.return_claimed_by is None
    enforcement.refresh_from_db()
    assert enforcement.status == EnforcementStatus.REVERSED
    assert len(emails_to(account.email, "access is back")) == 1
    [returned] = _returned_events(account)
    assert returned.after == {"restored": [enforcement.pk]}
    assert returned.reason == f"return date {day:%Y-%m-%d}"
    assert AuditEvent.objects.filter(
        action=AuditAction.ACCOUNT_RESTORED, target_id=str(account.pk), actor_name="return date"
    ).exists()

    # Re-runs the same day: nothing due any more, nothing sent.
    writes = len(simulator.writes_for(account.account_id))
    assert restore_on_return_dates(now=_local_day_at(day, 7), client=atlassian) == {}
    assert len(simulator.writes_for(account.account_id)) == writes
    assert verify_chain().ok


def test_a_claimed_return_date_is_not_handled_twice(make_policy, mirrored, atlassian):
    enforcement = act(make_policy())
    account = Account.objects.get(pk=enforcement.account_id)
    now = RUN_AT + timedelta(hours=1)
    account_return_date_set(account=account, return_on=timezone.localdate(now), actor=HELP_DESK, now=now)
    Account.objects.filter(pk=account.pk).update(return_claimed_by="another-run", return_claimed_at=now)
    assert restore_on_return_dates(now=now, client=atlassian) == {}
    # A claim older than a task's timeout belongs to a run that died: it is taken over.
    later = now + timedelta(hours=2)
    assert restore_on_return_dates(now=later, client=atlassian)["restored"] == 1


def test_the_scheduled_task_records_a_run(make_policy, mirrored, simulator, settings):
    enforcement = act(make_policy())
    account = Account.objects.get(pk=enforcement.account_id)
    now = RUN_AT + timedelta(hours=1)
    day = timezone.localdate(now) + timedelta(days=1)
    account_return_date_set(account=account, return_on=day, actor=HELP_DESK, now=now)
    settings.ATLASSIAN_API_BASE = simulator.base_url
    with time_machine.travel(_local_day_at(day, 6), tick=True):
        counts = restore_on_return_dates_task()
    assert counts == {"accounts": 1, "restored": 1}
    assert simulator.state.user(account.account_id).status == "active"
    assert TaskRun.objects.filter(name="return_dates", counts__restored=1).exists()


def test_a_return_date_cannot_be_in_the_past(mirrored):
    account = Account.objects.filter(organization=mirrored).first()
    now = RUN_AT
    with pytest.raises(ServiceRefused, match="has passed"):
        account_return_date_set(
            account=account, return_on=timezone.localdate(now) - timedelta(days=1), actor=HELP_DESK, now=now
        )
    assert not AuditEvent.objects.filter(action=AuditAction.ACCOUNT_RETURN_DATE_SET).exists()
