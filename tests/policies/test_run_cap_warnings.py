"""A run does not send warnings that promise a date its cap will not let it keep: it halts and
tells the admins instead, as it does when today's actions exceed the cap."""

from datetime import timedelta

import pytest
from django.core import mail

from governance.audit.models import AuditAction, AuditEvent
from governance.runs.models import RunStatus
from policies.models import Enforcement, EnforcementStatus
from policies.services.runs import evaluate, policy_run
from tests.policies.conftest import RUN_AT
from tests.policies.test_runs import _expected_due

pytestmark = pytest.mark.django_db


def test_warnings_whose_actions_the_cap_would_stop_are_not_sent_and_the_admins_are_told(make_policy, admin_inbox):
    policy = make_policy(warning_days=[14], cap_absolute=2)
    due = _expected_due(policy.organization)
    assert len(due) > 2, "the simulated org has more dormant Jira users than the cap"
    result = policy_run(policy=policy, now=RUN_AT)
    assert result.status == RunStatus.HALTED
    assert result.counts["to_act"] == 0  # nobody is due today: the first warning moves the date out
    assert result.counts["halt_day"] == 14
    assert result.counts["due_on_halt_day"] >= len(due)
    assert f"on {RUN_AT + timedelta(days=14):%Y-%m-%d} (14 days from now)" in result.message
    assert "more than that run's cap of 2" in result.message
    assert not Enforcement.objects.exists()
    assert not [m for m in mail.outbox if "will be suspended" in m.subject]
    assert AuditEvent.objects.filter(action=AuditAction.POLICY_RUN_HALTED).count() == 1
    assert any(admin_inbox in m.to and "halted" in m.subject for m in mail.outbox)


def test_with_the_default_cap_a_small_policy_warns_nobody(make_policy):
    policy = make_policy(warning_days=[14], cap_absolute=50, cap_percent=5.0)
    scope = evaluate(policy, RUN_AT).scope_size
    assert len(_expected_due(policy.organization)) > scope * 5 // 100
    assert policy_run(policy=policy, now=RUN_AT).status == RunStatus.HALTED
    assert not Enforcement.objects.exists()


def test_warnings_within_the_cap_go_out(make_policy):
    policy = make_policy(warning_days=[14])
    warned = len(evaluate(policy, RUN_AT).by_verdict("warn"))
    policy.cap_absolute = warned  # exactly as many as that day's run may act on
    policy.save()
    result = policy_run(policy=policy, now=RUN_AT)
    assert result.status == RunStatus.SUCCEEDED
    assert Enforcement.objects.filter(status=EnforcementStatus.WARNED).count() == warned
    assert [m for m in mail.outbox if "will be suspended" in m.subject]


def test_a_dry_run_reports_without_halting(make_policy):
    policy = make_policy(warning_days=[14], cap_absolute=2)
    assert policy_run(policy=policy, now=RUN_AT, dry_run=True).status == RunStatus.SUCCEEDED
