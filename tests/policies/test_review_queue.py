"""Review mode queues due accounts set-based, in one transaction with the audit events that say so."""

from datetime import timedelta

import pytest
from django.db import connection

from accounts.models import Organization
from governance.audit.models import AuditAction, AuditEvent
from governance.audit.record import Actor, new_correlation_id
from governance.runs.services import task_run_start
from policies.engine import Verdict
from policies.models import Enforcement, EnforcementStatus, PolicyMode
from policies.services import runs
from policies.services.runs import Evaluation, apply_decisions, evaluate, policy_run
from tests.policies.conftest import RUN_AT

pytestmark = pytest.mark.django_db

WARNED_AT = RUN_AT
DUE_AT = RUN_AT + timedelta(days=15)  # past the 14-day lead of every warning sent at WARNED_AT


def _review_policy(make_policy, *, warned: bool):
    """A review policy with many due accounts (7 days inactive is enough). With ``warned``, they were
    warned at WARNED_AT and are due at DUE_AT; otherwise they are due at once, with no case open yet."""
    policy = make_policy(mode=PolicyMode.REVIEW, trigger_days=7, warning_days=[14] if warned else [])
    if warned:
        policy_run(policy=policy, now=WARNED_AT)
        assert Enforcement.objects.filter(policy=policy, status=EnforcementStatus.WARNED).count() >= 30
        Organization.objects.filter(pk=policy.organization_id).update(last_complete_sync_at=DUE_AT)
        policy.organization.refresh_from_db()
    return policy, (DUE_AT if warned else RUN_AT)


def _due(policy, now, n=None) -> Evaluation:
    """The policy's due accounts at ``now`` (the first ``n`` of them), as a run would evaluate them."""
    evaluation = evaluate(policy, now)
    act = evaluation.by_verdict(Verdict.ACT)
    assert len(act) >= (n or 1)
    return Evaluation(decisions=act[:n] if n else act, scope_size=evaluation.scope_size, open=evaluation.open)


def _apply(policy, evaluation, now, run=None) -> dict:
    run = run or _task_run(now)
    return apply_decisions(policy, evaluation, mode=PolicyMode.REVIEW, run=run, actor=Actor.scheduler("test"), now=now)


def _task_run(now):
    return task_run_start(name="policy", correlation_id=new_correlation_id(), now=now)


def _statuses(policy) -> dict[int, str]:
    return dict(Enforcement.objects.filter(policy=policy).values_list("pk", "status"))


# Per batch of due accounts: a savepoint and its release; the open cases, read under a lock; one
# UPDATE for each status they leave; the audit chain head (after PostgreSQL's advisory lock) and
# one INSERT of the events, in a nested savepoint. New cases cost one INSERT for all of them and
# one read back. After the batches: the approved leftovers, and the pending emails.
QUERIES = {"warned": 10, "new": 12}


def _expected(case: str) -> int:
    return QUERIES[case] + (1 if connection.vendor == "postgresql" else 0)


@pytest.mark.parametrize("case", ["warned", "new"])
def test_queueing_for_review_costs_the_same_queries_for_3_or_30_accounts(case, make_policy, django_assert_num_queries):
    policy, now = _review_policy(make_policy, warned=case == "warned")
    evaluation = _due(policy, now, 33)
    three = Evaluation(decisions=evaluation.decisions[:3], scope_size=evaluation.scope_size, open=evaluation.open)
    thirty = Evaluation(decisions=evaluation.decisions[3:], scope_size=evaluation.scope_size, open=evaluation.open)
    first, second = _task_run(now), _task_run(now)
    with django_assert_num_queries(_expected(case)):
        assert _apply(policy, three, now, first)["queued_for_review"] == 3
    with django_assert_num_queries(_expected(case)):
        assert _apply(policy, thirty, now, second)["queued_for_review"] == 30
    assert Enforcement.objects.filter(policy=policy, status=EnforcementStatus.AWAITING_REVIEW).count() == 33


@pytest.mark.parametrize("case", ["warned", "new"])
def test_a_failed_audit_write_leaves_every_case_as_it_was(case, make_policy, monkeypatch):
    policy, now = _review_policy(make_policy, warned=case == "warned")
    before = _statuses(policy)
    events = AuditEvent.objects.count()
    write = runs.record_events

    def refuse_the_queue(events):
        if any(e["action"] == AuditAction.ENFORCEMENT_QUEUED_FOR_REVIEW for e in events):
            raise RuntimeError("the audit trail is unavailable")
        return write(events)

    monkeypatch.setattr(runs, "record_events", refuse_the_queue)
    with pytest.raises(RuntimeError, match="audit trail"):
        _apply(policy, _due(policy, now), now)
    assert _statuses(policy) == before  # nothing queued, and no case opened for the new ones
    assert AuditEvent.objects.count() == events


def test_queued_cases_are_audited_as_queued_for_review_not_as_warnings(make_policy):
    policy, now = _review_policy(make_policy, warned=True)
    warnings = AuditEvent.objects.filter(action=AuditAction.ENFORCEMENT_WARNED).count()
    result = policy_run(policy=policy, now=now)
    queued = Enforcement.objects.filter(policy=policy, status=EnforcementStatus.AWAITING_REVIEW)
    events = AuditEvent.objects.filter(action=AuditAction.ENFORCEMENT_QUEUED_FOR_REVIEW)
    assert result.counts["queued_for_review"] == queued.count() == events.count() > 0
    assert set(events.values_list("target_id", flat=True)) == {str(pk) for pk in queued.values_list("pk", flat=True)}
    assert AuditEvent.objects.filter(action=AuditAction.ENFORCEMENT_WARNED).count() == warnings
    event = events.first()
    assert event.get_action_display() == "Queued for review"
    assert event.before == {"status": "warned"}
    assert event.after == {"status": "awaiting_review"}
    assert event.correlation_id == result.run.correlation_id
    assert "threshold 7 days" in event.reason


def test_a_case_another_run_queued_meanwhile_is_neither_counted_nor_audited(make_policy):
    policy, now = _review_policy(make_policy, warned=True)
    evaluation = _due(policy, now)
    taken = Enforcement.objects.get(policy=policy, account_id=evaluation.decisions[0].account_pk)
    # Another run queued this one after our evaluation and before our writes.
    Enforcement.objects.filter(pk=taken.pk).update(status=EnforcementStatus.AWAITING_REVIEW, reason="theirs")
    outcome = _apply(policy, evaluation, now)
    assert outcome["queued_for_review"] == len(evaluation.decisions) - 1
    assert not AuditEvent.objects.filter(
        action=AuditAction.ENFORCEMENT_QUEUED_FOR_REVIEW, target_id=str(taken.pk)
    ).exists()
    taken.refresh_from_db()
    assert taken.reason == "theirs"


def test_a_case_changed_under_the_lock_keeps_nothing_of_the_batch(make_policy, monkeypatch):
    """The rows are read under a lock; should a database not hold it, a case whose status moved on
    is not claimed by the conditional update, and the whole batch is rolled back rather than
    counting or auditing a case this run did not claim."""
    policy, now = _review_policy(make_policy, warned=True)
    evaluation = _due(policy, now)
    before = _statuses(policy)
    events = AuditEvent.objects.count()
    read = runs._open_for_action

    def read_then_lose_one(policy, decisions, *, run):
        rows = read(policy, decisions, run=run)
        # "Another run" moves one on after the read (here inside the batch, so undone with it).
        Enforcement.objects.filter(pk=rows[0].pk).update(status=EnforcementStatus.AWAITING_REVIEW)
        return rows

    monkeypatch.setattr(runs, "_open_for_action", read_then_lose_one)
    with pytest.raises(runs.ClaimLost, match="1 of"):
        _apply(policy, evaluation, now)
    assert _statuses(policy) == before
    assert AuditEvent.objects.count() == events


def test_batches_of_due_accounts_are_each_queued_and_audited_once(make_policy, monkeypatch):
    monkeypatch.setattr(runs, "_DUE_BATCH", 4)
    policy, now = _review_policy(make_policy, warned=False)
    result = policy_run(policy=policy, now=now)
    queued = Enforcement.objects.filter(policy=policy, status=EnforcementStatus.AWAITING_REVIEW)
    events = AuditEvent.objects.filter(action=AuditAction.ENFORCEMENT_QUEUED_FOR_REVIEW)
    assert result.counts["queued_for_review"] == result.counts["to_act"] == queued.count() > 4 * 3
    assert sorted(events.values_list("target_id", flat=True)) == sorted(
        str(pk) for pk in queued.values_list("pk", flat=True)
    )
