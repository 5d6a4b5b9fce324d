"""Policy runs at Atlassian's pace: enforcements executed several at a time against the simulator,
each claimed and acted on once with its audit event; a run that spends its time budget stops
between accounts and its follow-up does the rest, never twice. Committed data (transactional_db):
the pool's threads have their own connections."""

import pytest

from accounts.clients import client_for
from accounts.models import AccountStatus
from accounts.sync.runner import organization_sync
from governance.audit.models import AuditAction, AuditEvent
from governance.audit.verify import verify_chain
from governance.runs.models import RunStatus
from policies.models import Enforcement, EnforcementStatus
from policies.services import runs
from policies.services.runs import policy_run
from tests.factories import jira_suspend_policy
from tests.policies.conftest import RUN_AT

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def policy(organization, simulator):
    with client_for(organization) as client:
        assert organization_sync(organization=organization, client=client).ok
    organization.refresh_from_db()
    return jira_suspend_policy(organization)


def _suspend_writes(simulator) -> list[str]:
    return [w.path for w in simulator.writes if w.path.endswith("/suspend")]


def test_an_enforcing_run_acts_on_several_accounts_at_once_and_on_each_once(policy, simulator, settings):
    settings.ATLASSIAN_CONCURRENCY = 5
    simulator.faults.latency_ms = 60
    simulator.reset_in_flight()
    result = policy_run(policy=policy, now=RUN_AT)
    assert result.status == RunStatus.SUCCEEDED
    done = Enforcement.objects.filter(policy=policy, status=EnforcementStatus.DONE)
    assert done.count() == result.counts["executed_done"] >= 8
    assert 3 <= simulator.max_in_flight <= 5
    writes = _suspend_writes(simulator)
    assert len(writes) == len(set(writes)) == done.count()  # none twice, none lost
    executed = AuditEvent.objects.filter(
        action=AuditAction.ENFORCEMENT_EXECUTED, correlation_id=result.run.correlation_id
    )
    assert sorted(executed.values_list("target_id", flat=True)) == sorted(
        str(pk) for pk in done.values_list("pk", flat=True)
    )
    assert all(e.account.status == AccountStatus.SUSPENDED for e in done.select_related("account"))
    assert verify_chain().ok


def test_an_enforcing_run_reads_its_accounts_ahead_and_together(policy, simulator, settings):
    """Its re-checks are read ahead by email, its read-backs ten to a search: far fewer than the two
    searches each account would cost alone (accounts/services/read_ahead.py)."""
    settings.ATLASSIAN_CONCURRENCY = 5
    simulator.faults.latency_ms = 60
    since = len(simulator.requests_log)
    result = policy_run(policy=policy, now=RUN_AT)
    done = result.counts["executed_done"]
    assert done >= 8
    searches = [s for s in simulator.requests_log[since:] if s.path.endswith("/users/search")]
    assert len(searches) < done  # alone: 2 a suspension (measured: 8 for 21)
    assert len(_suspend_writes(simulator)) == done


def test_a_run_out_of_time_stops_between_accounts_and_its_follow_up_does_the_rest_once(
    policy, simulator, settings, monkeypatch
):
    settings.ATLASSIAN_CONCURRENCY = 4
    queued: list[int] = []
    monkeypatch.setattr(runs, "continue_later", lambda p: queued.append(p.pk))
    settings.ACTION_TIME_BUDGET = 0  # spent before the first account
    first = policy_run(policy=policy, now=RUN_AT)
    assert first.status == RunStatus.SUCCEEDED
    assert first.counts["time_budget_reached"] == 1
    assert first.counts["not_executed"] == first.counts["to_act"] > 0
    assert queued == [policy.pk]
    assert _suspend_writes(simulator) == []
    left = Enforcement.objects.filter(policy=policy, status=EnforcementStatus.DUE)
    assert left.count() == first.counts["to_act"]
    assert not left.exclude(claimed_by="").exists()  # left unclaimed for the follow-up

    settings.ACTION_TIME_BUDGET = 600
    follow_up = policy_run(policy=policy, now=RUN_AT)
    assert follow_up.counts["executed_done"] == first.counts["to_act"]
    assert "time_budget_reached" not in follow_up.counts
    writes = _suspend_writes(simulator)
    assert len(writes) == len(set(writes)) == first.counts["to_act"]
    assert queued == [policy.pk]
    assert verify_chain().ok
