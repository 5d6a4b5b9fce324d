"""What the warning and action emails say: the day of the action and the days inactive, each of
the right moment, and the same figures the policy preview shows."""

import re
from datetime import timedelta

import pytest
import time_machine
from django.core import mail

from accounts.models import Organization
from policies.models import Enforcement, EnforcementStatus
from policies.selectors.preview import policy_preview
from policies.services.runs import policy_run
from policies.tasks import send_pending_notices
from tests.policies.conftest import RUN_AT

pytestmark = pytest.mark.django_db

ACTED_AT = RUN_AT + timedelta(days=40, hours=5)  # well after the due date of a warning sent at RUN_AT


def _run(policy, now):
    """A run at ``now`` as if a sync had just completed."""
    Organization.objects.filter(pk=policy.organization_id).update(last_complete_sync_at=now)
    policy.organization.refresh_from_db()
    return policy_run(policy=policy, now=now)


def _day(moment) -> str:
    return f"{moment:%d %B %Y}"


def _days(since, moment) -> int:
    """Whole days between two moments, worked out here rather than by the code under test."""
    return int((moment - since).total_seconds() // 86400)


def _mail_to(email: str, subject_part: str, since: int = 0):
    found = [m for m in mail.outbox[since:] if email in m.to and subject_part in m.subject]
    assert len(found) == 1, [m.subject for m in mail.outbox[since:] if email in m.to]
    return found[0]


def _reachable(policy, status):
    """The policy's enforcements in ``status`` whose account shows an email address (some hide it)."""
    found = list(
        Enforcement.objects.filter(policy=policy, status=status)
        .exclude(account__email__isnull=True)
        .exclude(account__email="")
        .select_related("account")
    )
    assert found
    return found


def _preview_days(policy, now) -> dict[int, int]:
    """The days inactive the policy preview shows for each account it warns or acts on today."""
    days = {}
    for row in policy_preview(policy, now).rows:
        if row.today in ("warn", "act"):
            days[row.account_pk] = int(re.search(r"\((\d+) days; threshold", row.reason).group(1))
    return days


class TestActionEmails:
    def test_an_action_tells_the_day_it_happened_not_the_due_date(self, make_policy):
        policy = make_policy(warning_days=[14])
        _run(policy, RUN_AT)
        sent = len(mail.outbox)
        assert _run(policy, ACTED_AT).counts["executed_done"] > 0
        for enforcement in _reachable(policy, EnforcementStatus.DONE):
            assert enforcement.executed_at == ACTED_AT
            assert _day(enforcement.due_at) != _day(ACTED_AT)
            body = _mail_to(enforcement.account.email, "access was suspended", sent).body
            days = _days(enforcement.inactive_since, ACTED_AT)
            assert f"for {days} days, so your access was suspended on {_day(ACTED_AT)}." in body
            assert _day(enforcement.due_at) not in body

    def test_an_action_due_long_ago_tells_the_day_of_the_run_that_took_it(self, make_policy):
        # No warning: the due date is the day the threshold was crossed, often weeks or years ago.
        policy = make_policy()
        _run(policy, RUN_AT)
        done = _reachable(policy, EnforcementStatus.DONE)
        assert any(e.due_at < RUN_AT - timedelta(days=30) for e in done)
        for enforcement in done:
            body = _mail_to(enforcement.account.email, "access was suspended").body
            assert f"suspended on {_day(RUN_AT)}." in body
            assert f"for {_days(enforcement.inactive_since, RUN_AT)} days" in body

    def test_an_action_email_sent_days_later_still_tells_the_day_and_figure_of_the_action(self, make_policy, settings):
        policy = make_policy()
        settings.EMAIL_BACKEND = "tests.policies.failing_mail.Backend"
        _run(policy, RUN_AT)
        pending = _reachable(policy, EnforcementStatus.DONE)
        assert all(e.notice_pending == "action" for e in pending)
        settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
        with time_machine.travel(RUN_AT + timedelta(days=3), tick=False):
            assert send_pending_notices()["sent"] == len(pending)
        assert not Enforcement.objects.filter(policy=policy, notice_pending="action").exists()
        for enforcement in pending:
            body = _mail_to(enforcement.account.email, "access was suspended").body
            assert f"for {_days(enforcement.inactive_since, RUN_AT)} days" in body
            assert f"suspended on {_day(RUN_AT)}." in body


class TestWarningEmails:
    def test_a_warning_tells_the_days_the_preview_shows_at_that_moment_and_the_planned_day(self, make_policy):
        policy = make_policy(warning_days=[14])
        shown = _preview_days(policy, RUN_AT)
        _run(policy, RUN_AT)
        for enforcement in _reachable(policy, EnforcementStatus.WARNED):
            body = _mail_to(enforcement.account.email, "will be suspended").body
            days = shown[enforcement.account_id]
            assert days == _days(enforcement.inactive_since, RUN_AT)
            assert f"for {days} days." in body
            assert f"will be suspended on {_day(enforcement.due_at)}." in body
            assert enforcement.due_at == RUN_AT + timedelta(days=14)

    def test_a_reminder_counts_the_days_at_the_moment_it_is_sent(self, make_policy):
        policy = make_policy(warning_days=[14, 3])
        _run(policy, RUN_AT)
        reminded_at = RUN_AT + timedelta(days=11, hours=1)
        shown = _preview_days(policy, reminded_at)
        sent = len(mail.outbox)
        _run(policy, reminded_at)
        reminders = [e for e in _reachable(policy, EnforcementStatus.WARNED) if e.warned_at == RUN_AT]
        assert reminders
        for enforcement in reminders:
            body = _mail_to(enforcement.account.email, "will be suspended", sent).body
            days = shown[enforcement.account_id]
            assert days == _days(enforcement.inactive_since, reminded_at)
            assert days >= _days(enforcement.inactive_since, RUN_AT) + 11
            assert f"for {days} days." in body
            assert f"will be suspended on {_day(RUN_AT + timedelta(days=14))}." in body
