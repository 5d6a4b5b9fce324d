"""Policy runs against a synced simulator: every safety rail of DESIGN.md section 5 is pinned here."""

import threading
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.utils import timezone

from accounts.models import Account, AccountStatus, Organization
from accounts.services import account_lock
from governance.audit.models import AuditAction, AuditEvent
from governance.audit.record import Actor
from governance.audit.verify import verify_chain
from governance.runs.models import RunStatus, TaskRun
from policies.models import Enforcement, EnforcementStatus, Exemption, InactivityPolicy, PolicyMode
from policies.services.execute import claim, execute
from policies.services.policies import policy_save
from policies.services.review import enforcement_approve, run_undo
from policies.services.runs import policy_run
from tests.account_locks import Holder
from tests.group_forms import both_group_id_forms
from tests.policies.conftest import RUN_AT

pytestmark = pytest.mark.django_db


def _expected_due(organization, days=90) -> set[int]:
    """Accounts a 90-day Jira policy must act on, worked out independently of the engine."""
    cutoff = RUN_AT - timedelta(days=days)
    due = set()
    for account in Account.objects.filter(
        organization=organization,
        status=AccountStatus.ACTIVE,
        is_org_admin=False,
        account_type="atlassian",
        product_access__product__key="jira-software",
    ).prefetch_related("product_access__product"):
        jira = next(pa for pa in account.product_access.all() if pa.product.key == "jira-software")
        anchor = max(d for d in (jira.last_active, account.added_to_org, account.restored_at) if d is not None)
        if anchor < cutoff:
            due.add(account.pk)
    return due


def _remote_statuses(simulator) -> dict[str, str]:
    return {a.account_id: simulator.state.user(a.account_id).status for a in Account.objects.all()}


def _run(policy, **kwargs):
    """Run at ``now`` as if a sync had just completed (the simulator's clock does not move)."""
    now = kwargs.pop("now", RUN_AT)
    if now > RUN_AT:
        Organization.objects.filter(pk=policy.organization_id).update(last_complete_sync_at=now)
        policy.organization.refresh_from_db()
    return policy_run(policy=policy, now=now, **kwargs)


class TestStaleSync:
    def test_it_refuses_to_run_on_stale_sync(self, make_policy, simulator, settings):
        policy = make_policy()
        remote_before = _remote_statuses(simulator)
        Organization.objects.filter(pk=policy.organization_id).update(
            last_complete_sync_at=RUN_AT - timedelta(hours=27)
        )
        policy.organization.refresh_from_db()
        settings.POLICY_MAX_SYNC_AGE = 26
        result = _run(policy)
        assert result.status == RunStatus.REFUSED
        assert "27.0 hours old" in result.message
        assert not Enforcement.objects.exists()
        assert TaskRun.objects.get(name="policy").status == RunStatus.REFUSED
        assert AuditEvent.objects.filter(action=AuditAction.POLICY_RUN_REFUSED).count() == 1
        assert _remote_statuses(simulator) == remote_before

    def test_it_refuses_when_the_org_was_never_synced(self, make_policy):
        policy = make_policy()
        Organization.objects.filter(pk=policy.organization_id).update(last_complete_sync_at=None)
        policy.organization.refresh_from_db()
        assert _run(policy).status == RunStatus.REFUSED


class TestEnforce:
    def test_it_suspends_exactly_the_accounts_past_the_threshold(self, make_policy, simulator):
        policy = make_policy()
        expected = _expected_due(policy.organization)
        assert expected, "the seeded org has long-inactive Jira users"
        result = _run(policy)
        assert result.status == RunStatus.SUCCEEDED
        done = set(Enforcement.objects.filter(status=EnforcementStatus.DONE).values_list("account_id", flat=True))
        assert done == expected
        for account in Account.objects.filter(pk__in=expected):
            assert simulator.state.user(account.account_id).status == "suspended"
            assert account.status == AccountStatus.SUSPENDED
        assert verify_chain().ok

    def test_each_decision_records_a_readable_reason(self, make_policy):
        policy = make_policy()
        _run(policy)
        enforcement = Enforcement.objects.filter(status=EnforcementStatus.DONE).first()
        assert "threshold 90 days" in enforcement.reason
        assert f"suspended on {RUN_AT.date().isoformat()}" in enforcement.reason

    def test_a_re_run_never_acts_twice(self, make_policy):
        policy = make_policy()
        _run(policy)
        executed = AuditEvent.objects.filter(action=AuditAction.ENFORCEMENT_EXECUTED).count()
        second = _run(policy, now=RUN_AT + timedelta(minutes=5))
        assert second.counts.get("executed_done", 0) == 0
        assert AuditEvent.objects.filter(action=AuditAction.ENFORCEMENT_EXECUTED).count() == executed

    def test_a_crashed_run_is_completed_by_the_next_one_without_acting_twice(self, make_policy, simulator, atlassian):
        policy = make_policy()
        target = Account.objects.get(pk=min(_expected_due(policy.organization)))
        # The killed worker: it claimed the row, then died before calling Atlassian.
        enforcement = Enforcement.objects.create(
            policy=policy, account=target, status=EnforcementStatus.DUE, action="suspend", reason="r", due_at=RUN_AT
        )
        assert claim(enforcement, claimant="dead-worker", now=RUN_AT - timedelta(hours=2))
        result = _run(policy)
        enforcement.refresh_from_db()
        assert enforcement.status == EnforcementStatus.DONE
        assert simulator.state.user(target.account_id).status == "suspended"
        assert Enforcement.objects.filter(account=target, policy=policy).count() == 1
        assert result.status == RunStatus.SUCCEEDED
        executed = AuditEvent.objects.filter(action=AuditAction.ENFORCEMENT_EXECUTED, target_id=str(enforcement.pk))
        assert executed.count() == 1

    def test_an_action_a_dead_worker_already_carried_out_is_not_sent_again(self, make_policy, simulator):
        """The worker died after Atlassian took its suspension (the call in flight landed): the run
        that takes the stale claim over finds the account suspended and completes without a call."""
        policy = make_policy()
        target = Account.objects.get(pk=min(_expected_due(policy.organization)))
        enforcement = Enforcement.objects.create(
            policy=policy, account=target, status=EnforcementStatus.DUE, action="suspend", reason="r", due_at=RUN_AT
        )
        assert claim(enforcement, claimant="dead-worker", now=RUN_AT - timedelta(hours=2))
        simulator.state.suspend(simulator.state.account(target.account_id))  # its call landed
        writes_before = len(simulator.writes)
        _run(policy)
        enforcement.refresh_from_db()
        assert enforcement.status == EnforcementStatus.DONE
        assert enforcement.removed == {"status": "suspended", "completed_earlier": True}
        assert not [w for w in simulator.writes[writes_before:] if target.account_id in w.path]
        assert Account.objects.get(pk=target.pk).status == AccountStatus.SUSPENDED

    def test_a_fresh_claim_held_by_another_worker_is_left_alone(self, make_policy, atlassian):
        policy = make_policy()
        target = Account.objects.get(pk=min(_expected_due(policy.organization)))
        enforcement = Enforcement.objects.create(
            policy=policy, account=target, status=EnforcementStatus.DUE, action="suspend", reason="r", due_at=RUN_AT
        )
        assert claim(enforcement, claimant="live-worker", now=timezone.now())
        assert execute(enforcement, client=atlassian, actor=Actor.system()) == "skipped"

    def test_only_one_open_enforcement_per_policy_and_account(self, make_policy):
        from django.db import IntegrityError, transaction

        policy = make_policy()
        account = Account.objects.first()
        Enforcement.objects.create(
            policy=policy, account=account, status="warned", action="suspend", reason="r", due_at=RUN_AT
        )
        with pytest.raises(IntegrityError), transaction.atomic():
            Enforcement.objects.create(
                policy=policy, account=account, status="due", action="suspend", reason="r", due_at=RUN_AT
            )


@pytest.mark.django_db(transaction=True)
def test_two_clusters_at_once_act_once_per_account(make_policy, organization):
    policy = make_policy()
    expected = _expected_due(policy.organization)
    results, errors = [], []

    def cluster():
        try:
            results.append(policy_run(policy=InactivityPolicy.objects.get(pk=policy.pk), now=RUN_AT).status)
        except BaseException as exc:  # pragma: no cover
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=cluster) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert (
        sorted(results) == sorted([RunStatus.SUCCEEDED, RunStatus.REFUSED]) or results.count(RunStatus.SUCCEEDED) == 2
    )
    executed = AuditEvent.objects.filter(action=AuditAction.ENFORCEMENT_EXECUTED)
    assert executed.count() == len(expected)
    assert len(set(executed.values_list("target_id", flat=True))) == len(expected)
    assert verify_chain().ok


class TestSafetyRails:
    def test_a_new_policy_starts_in_preview_whatever_it_asked_for(self, mirrored):
        policy = InactivityPolicy(organization=mirrored, name="eager", mode=PolicyMode.ENFORCE, action="suspend")
        policy_save(policy=policy, actor=Actor.system())
        assert InactivityPolicy.objects.get(pk=policy.pk).mode == PolicyMode.PREVIEW
        assert AuditEvent.objects.filter(action=AuditAction.POLICY_CREATED).count() == 1

    def test_preview_changes_nothing(self, make_policy, simulator):
        policy = make_policy(mode=PolicyMode.PREVIEW)
        remote_before = _remote_statuses(simulator)
        result = _run(policy)
        assert _remote_statuses(simulator) == remote_before
        assert result.counts["to_act"] == len(_expected_due(policy.organization))
        assert not Enforcement.objects.exists()
        assert (
            not Account.objects.filter(status=AccountStatus.SUSPENDED)
            .exclude(pk__in=Account.objects.filter(status=AccountStatus.SUSPENDED))
            .exists()
        )

    def test_a_run_over_its_cap_halts_before_its_first_action_and_tells_the_admins(
        self, make_policy, simulator, admin_inbox
    ):
        policy = make_policy(cap_absolute=2)
        remote_before = _remote_statuses(simulator)
        result = _run(policy)
        assert result.status == RunStatus.HALTED
        assert "more than this run's cap of 2" in result.message
        assert not Enforcement.objects.exists()
        assert _remote_statuses(simulator) == remote_before
        assert AuditEvent.objects.filter(action=AuditAction.POLICY_RUN_HALTED).count() == 1
        assert any(admin_inbox in m.to and "halted" in m.subject for m in mail.outbox)

    def test_the_percentage_cap_counts_against_the_scope(self, make_policy):
        policy = make_policy(cap_percent=1.0)
        assert _run(policy).status == RunStatus.HALTED

    def test_exempt_accounts_org_admins_and_apps_are_never_acted_on(self, make_policy, simulator):
        policy = make_policy()
        due = _expected_due(policy.organization)
        protected = Account.objects.get(pk=min(due))
        Exemption.objects.create(organization=policy.organization, account=protected, reason="on parental leave")
        admin = Account.objects.filter(is_org_admin=True).first()
        _run(policy)
        assert not Enforcement.objects.filter(account=protected).exists()
        assert not Enforcement.objects.filter(account__is_org_admin=True).exists()
        assert not Enforcement.objects.filter(account__account_type__in=["app", "customer"]).exists()
        assert simulator.state.user(protected.account_id).status == "active"
        assert admin is None or simulator.state.user(admin.account_id).status != "suspended"


class TestWarnings:
    def test_warnings_go_out_first_with_a_restore_link_and_the_action_follows_after_the_lead_time(
        self, make_policy, simulator, settings
    ):
        settings.PORTAL_BASE_URL = "https://portal.example.com"
        policy = make_policy(warning_days=[14, 3])
        due = _expected_due(policy.organization)
        _run(policy)
        warned = Enforcement.objects.filter(status=EnforcementStatus.WARNED)
        assert set(warned.values_list("account_id", flat=True)) >= due
        assert not Enforcement.objects.filter(status=EnforcementStatus.DONE).exists()
        message = next(m for m in mail.outbox if "will be suspended" in m.subject)
        assert "https://portal.example.com/access/restore/" in message.body
        assert message.alternatives
        assert "<a href=" in message.alternatives[0][0]
        later = _run(policy, now=RUN_AT + timedelta(days=14, minutes=1))
        assert later.counts.get("executed_done", 0) >= len(due)

    def test_a_reminder_is_sent_at_each_offset_and_only_once(self, make_policy):
        policy = make_policy(warning_days=[14, 3])
        _run(policy)
        first = len(mail.outbox)
        _run(policy, now=RUN_AT + timedelta(days=1))
        assert len([m for m in mail.outbox[first:] if "will be suspended" in m.subject]) == 0
        _run(policy, now=RUN_AT + timedelta(days=11, hours=1))
        assert len([m for m in mail.outbox[first:] if "will be suspended" in m.subject]) > 0

    def test_someone_who_becomes_active_is_cancelled_without_another_email(self, make_policy, simulator, atlassian):
        from accounts.sync.runner import organization_sync

        policy = make_policy(warning_days=[14])
        _run(policy)
        enforcement = Enforcement.objects.filter(status=EnforcementStatus.WARNED).select_related("account").first()
        simulator.state.set_last_active(enforcement.account.account_id, "jira-software", RUN_AT)
        organization_sync(organization=policy.organization, client=atlassian)
        policy.organization.refresh_from_db()
        sent = len(mail.outbox)
        _run(policy, now=RUN_AT + timedelta(days=1))
        enforcement.refresh_from_db()
        assert enforcement.status == EnforcementStatus.CANCELLED
        assert not [m for m in mail.outbox[sent:] if enforcement.account.email in m.to]

    def test_a_failed_email_is_recorded_and_retried_without_blocking_the_run(self, make_policy, settings):
        settings.EMAIL_BACKEND = "tests.policies.failing_mail.Backend"
        policy = make_policy(warning_days=[14])
        result = _run(policy)
        assert result.status == RunStatus.SUCCEEDED
        failed = Enforcement.objects.filter(notice_pending="warning").exclude(notice_error="")
        assert failed.exists()
        settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
        from policies.tasks import send_pending_notices

        assert send_pending_notices()["sent"] >= failed.count()
        assert not Enforcement.objects.filter(notice_pending="warning").exists()


class TestReviewAndUndo:
    def test_review_mode_queues_and_an_approval_executes(self, make_policy, simulator, atlassian, alice):
        policy = make_policy(mode=PolicyMode.REVIEW)
        _run(policy)
        queued = Enforcement.objects.filter(status=EnforcementStatus.AWAITING_REVIEW)
        assert queued.count() == len(_expected_due(policy.organization))
        assert all(simulator.state.user(e.account.account_id).status == "active" for e in queued)
        item = queued.first()
        Organization.objects.filter(pk=policy.organization_id).update(last_complete_sync_at=timezone.now())
        status = enforcement_approve(enforcement=item, actor=Actor.for_user(alice), reason="checked", client=atlassian)
        assert status == EnforcementStatus.DONE
        assert simulator.state.user(item.account.account_id).status == "suspended"

    def test_undo_gives_back_what_the_run_took(self, make_policy, simulator, atlassian):
        policy = make_policy()
        due = _expected_due(policy.organization)
        result = _run(policy)
        counts = run_undo(run=result.run, actor=Actor.system("undo"), reason="wrong policy", client=atlassian)
        assert counts["reversed"] == len(due)
        assert counts["failed"] == 0
        for enforcement in Enforcement.objects.filter(executed_run=result.run):
            assert enforcement.status == EnforcementStatus.REVERSED
            assert simulator.state.user(enforcement.account.account_id).status == "active"
        assert AuditEvent.objects.filter(action=AuditAction.POLICY_RUN_UNDONE).count() == 1

    @both_group_id_forms
    def test_remove_product_access_records_what_it_removed_and_undo_puts_it_back(
        self, make_policy, simulator, atlassian
    ):
        policy = make_policy(action="remove_product_access")
        result = _run(policy)
        done = Enforcement.objects.filter(status=EnforcementStatus.DONE).select_related("account").first()
        if done is None:
            pytest.skip("every due account gets Jira through an IdP group in this seed")
        assert done.removed["groups"]
        assert done.removed["products"] == ["jira-software"]
        assert "jira-software" not in simulator.state.user(done.account.account_id).products
        run_undo(run=result.run, actor=Actor.system("undo"), reason="oops", client=atlassian)
        assert "jira-software" in simulator.state.user(done.account.account_id).products


def test_an_account_another_change_holds_is_left_for_a_later_attempt(make_policy, simulator, atlassian, monkeypatch):
    """A bulk action or an admin is changing the account: the policy sends nothing and retries."""
    monkeypatch.setattr(account_lock, "WAIT_SECONDS", 0.2)
    policy = make_policy()
    target = Account.objects.get(pk=min(_expected_due(policy.organization)))
    enforcement = Enforcement.objects.create(
        policy=policy, account=target, status=EnforcementStatus.DUE, action="suspend", reason="r", due_at=RUN_AT
    )
    with Holder(target.pk):
        assert execute(enforcement, client=atlassian, actor=Actor.system()) == EnforcementStatus.DUE
    enforcement.refresh_from_db()
    assert enforcement.attempts == 1
    assert "Another change to this account" in enforcement.error
    assert simulator.state.user(target.account_id).status == "active"
    assert execute(enforcement, client=atlassian, actor=Actor.system()) == EnforcementStatus.DONE
    assert simulator.state.user(target.account_id).status == "suspended"
