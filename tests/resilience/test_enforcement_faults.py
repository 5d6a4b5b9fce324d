"""A policy run that acts (suspends) while the simulator misbehaves on the writes.

What must hold whatever the fault: every due account is acted on by the end (now or by the next
run), none is acted on for the same decision twice (one enforcement, one ``executed`` event; a
write repeated only when its first outcome was unknown, and then harmlessly), nobody who was not
due is touched, and the audit chain verifies (DESIGN.md 5.5, 5.6).
"""

import time

import pytest

from governance.audit.models import AuditAction, AuditEvent
from policies.models import Enforcement, EnforcementStatus
from tests.resilience.helpers import assert_chain_verifies, due_now, enforce, sync

pytestmark = pytest.mark.django_db
SUSPEND = "/suspend"


def _suspends(simulator) -> dict[str, int]:
    counts: dict[str, int] = {}
    for write in simulator.writes:
        if write.path.endswith(SUSPEND):
            account_id = write.path.split("/users/")[1].split("/")[0]
            counts[account_id] = counts.get(account_id, 0) + 1
    return counts


def _assert_each_due_account_acted_on_once(simulator, policy, due: set[str], *, repeated_at_most: int = 0) -> None:
    enforcements = list(Enforcement.objects.filter(policy=policy).select_related("account"))
    assert sorted(e.account.account_id for e in enforcements) == sorted(due)  # one decision per account
    assert {e.status for e in enforcements} == {EnforcementStatus.DONE}
    executed = AuditEvent.objects.filter(action=AuditAction.ENFORCEMENT_EXECUTED)
    assert sorted(executed.values_list("target_id", flat=True)) == sorted(str(e.pk) for e in enforcements)
    suspends = _suspends(simulator)
    assert suspends.keys() == due  # nobody else was touched
    assert all(simulator.state.user(a).status == "suspended" for a in due)
    assert sum(1 for n in suspends.values() if n > 1) <= repeated_at_most
    assert_chain_verifies()


@pytest.fixture
def due(suspend_policy):
    accounts = due_now(suspend_policy)
    assert len(accounts) >= 10  # enough for a fault to land in the middle of the run
    return accounts


def test_a_429_storm_on_writes_is_waited_out_and_each_account_suspended_once(
    simulator, suspend_policy, due, make_client
):
    simulator.faults.rate_limit_burst(3, retry_after=5, path_contains=SUSPEND, after=3)
    client = make_client(max_attempts=4)
    enforce(suspend_policy, client)
    # A write refused with 429 never reached Atlassian: retrying it cannot act twice.
    assert client.waits.count(5) == 3
    _assert_each_due_account_acted_on_once(simulator, suspend_policy, due)


def test_a_503_burst_on_writes_is_retried_within_the_run(simulator, suspend_policy, due, make_client):
    simulator.faults.fail_next(3, status=503, path_contains=SUSPEND, after=2)
    enforce(suspend_policy, make_client())
    _assert_each_due_account_acted_on_once(simulator, suspend_policy, due)


@pytest.mark.parametrize("fault", ["500", "drop"])
def test_a_write_whose_outcome_is_unknown_is_not_retried_blindly_but_completed_by_the_next_run(
    simulator, suspend_policy, due, make_client, fault
):
    # A 500 or a dropped connection on a POST may or may not have acted: the client does not
    # resend it; the enforcement goes back to due with the error, and the next run completes it.
    if fault == "500":
        simulator.faults.fail_next(1, status=500, path_contains=SUSPEND, after=2)
    else:
        simulator.faults.drop_next(1, path_contains=SUSPEND, after=2)
    first = enforce(suspend_policy, make_client())
    assert first.counts["executed_due"] == 1
    retry = Enforcement.objects.get(policy=suspend_policy, status=EnforcementStatus.DUE)
    assert retry.attempts == 1
    assert retry.error
    assert AuditEvent.objects.filter(action=AuditAction.ENFORCEMENT_FAILED, target_id=str(retry.pk)).count() == 1
    second = enforce(suspend_policy, make_client())
    assert second.counts["executed_done"] == 1
    _assert_each_due_account_acted_on_once(simulator, suspend_policy, due)


def test_a_write_past_the_read_timeout_that_did_act_is_completed_once_by_the_next_run(
    simulator, suspend_policy, due, make_client
):
    # The server carries the suspend out after the client stopped waiting. The next run re-checks
    # the account before acting, finds it suspended (the attempt that got no answer did act), and
    # completes the case without sending the suspend again: one call, one decision executed once.
    simulator.faults.delay_next(1, seconds=1.0, path_contains=SUSPEND, after=2)
    first = enforce(suspend_policy, make_client(timeout=(2.0, 0.3)))
    assert first.counts["executed_due"] == 1
    timed_out = Enforcement.objects.get(policy=suspend_policy, status=EnforcementStatus.DUE)
    assert "Timed out" in timed_out.error
    deadline = time.monotonic() + 5
    while simulator.state.user(timed_out.account.account_id).status != "suspended":  # the late write lands
        assert time.monotonic() < deadline
        time.sleep(0.05)
    enforce(suspend_policy, make_client())
    assert _suspends(simulator)[timed_out.account.account_id] == 1
    timed_out.refresh_from_db()
    assert timed_out.status == EnforcementStatus.DONE
    assert timed_out.removed == {"status": "suspended", "completed_earlier": True}
    _assert_each_due_account_acted_on_once(simulator, suspend_policy, due, repeated_at_most=0)


def test_an_enforcement_that_keeps_failing_ends_failed_after_its_attempts_and_says_why(
    simulator, suspend_policy, due, make_client
):
    victim = sorted(due)[0]
    simulator.faults.fail_next(10, status=500, path_contains=f"/users/{victim}{SUSPEND}")
    for _ in range(3):  # MAX_ATTEMPTS: one attempt per run, the third failure is final
        enforce(suspend_policy, make_client())
    failed = Enforcement.objects.get(policy=suspend_policy, account__account_id=victim)
    assert (failed.status, failed.attempts) == (EnforcementStatus.FAILED, 3)
    assert "HTTP 500" in failed.error
    assert simulator.faults.injected["fail"] == 3
    assert simulator.state.user(victim).status == "active"
    others = due - {victim}
    assert _suspends(simulator).keys() == others
    assert_chain_verifies()


def test_a_timed_out_write_that_did_act_is_not_written_off_as_cancelled_by_a_later_sync(
    simulator, organization, suspend_policy, due, make_client
):
    # The suspend lands after the client gave up; the next sync sees the account suspended, so the
    # next policy run finds it out of scope. The portal did suspend it: the enforcement must say
    # so (done, with what was removed), or the person cannot ask for their access back.
    simulator.faults.delay_next(1, seconds=1.0, path_contains=SUSPEND, after=2)
    enforce(suspend_policy, make_client(timeout=(2.0, 0.3)))
    timed_out = Enforcement.objects.get(policy=suspend_policy, status=EnforcementStatus.DUE)
    deadline = time.monotonic() + 5
    while simulator.state.user(timed_out.account.account_id).status != "suspended":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert sync(organization, make_client()).ok
    enforce(suspend_policy, make_client())
    timed_out.refresh_from_db()
    assert timed_out.status == EnforcementStatus.DONE
    assert timed_out.removed.get("status") == "suspended"
    assert _suspends(simulator)[timed_out.account.account_id] == 1  # confirmed, not sent again
    _assert_each_due_account_acted_on_once(simulator, suspend_policy, due)
