"""Bulk actions at Atlassian's pace (accounts/pool.py): several accounts at a time, against the
simulator over HTTP, each still acted on once, with its own audit event, under its change lock,
and never past the rate limit. Threads need their own connections: committed data
(transactional_db)."""

import dataclasses
import threading
import time
from collections import Counter

import pytest

from accounts.bulk import Outcome, accounts_bulk_apply
from accounts.clients import client_for
from accounts.models import Account, AccountStatus
from accounts.pool import run_paced
from accounts.sync.runner import organization_sync
from governance.atlassian.simulator.faults import RateLimiter
from governance.audit.models import AuditAction, AuditEvent
from governance.audit.record import Actor
from governance.audit.verify import verify_chain
from tests.account_locks import Holder

pytestmark = pytest.mark.django_db(transaction=True)
ACTOR = Actor.system("pace test")


@pytest.fixture
def mirrored(organization, simulator):
    with client_for(organization) as client:
        assert organization_sync(organization=organization, client=client).ok
    return organization


def _active(organization, n: int) -> list[Account]:
    accounts = list(
        Account.objects.filter(
            organization=organization, status=AccountStatus.ACTIVE, is_org_admin=False, account_type="atlassian"
        ).order_by("account_id")[:n]
    )
    assert len(accounts) == n
    return accounts


def _suspend(accounts) -> object:
    return accounts_bulk_apply(
        action="suspend",
        account_ids=[a.pk for a in accounts],
        params={"reason": "leavers"},
        actor=ACTOR,
        client_factory=client_for,
    )


def _suspensions(simulator, accounts) -> Counter:
    writes = Counter()
    for account in accounts:
        writes[account.account_id] = sum(1 for w in simulator.writes_for(account.account_id) if "suspend" in w.path)
    return writes


def test_a_bulk_suspension_overlaps_its_calls_and_acts_once_on_each_account(mirrored, simulator, settings):
    settings.ATLASSIAN_CONCURRENCY = 6
    accounts = _active(mirrored, 24)
    simulator.faults.latency_ms = 150
    simulator.reset_in_flight()
    outcome = _suspend(accounts)
    assert outcome.counts[Outcome.DONE] == 24
    assert 3 <= simulator.max_in_flight <= 6  # calls overlapped, within the pool's bound
    assert set(_suspensions(simulator, accounts).values()) == {1}  # none twice, none lost
    events = AuditEvent.objects.filter(action=AuditAction.ACCOUNT_SUSPENDED, correlation_id=outcome.correlation_id)
    assert sorted(events.values_list("target_id", flat=True)) == sorted(str(a.pk) for a in accounts)
    assert Account.objects.filter(pk__in=[a.pk for a in accounts], status=AccountStatus.SUSPENDED).count() == 24
    assert [r.account_pk for r in outcome.results] == [a.pk for a in accounts]  # reported in the order asked
    assert verify_chain().ok


def test_the_pool_reads_its_accounts_together(mirrored, simulator, settings):
    """Re-checks read ahead by email, read-backs sent together: far fewer than the two searches
    an account would cost alone (accounts/services/read_ahead.py, client/read_batcher.py)."""
    settings.ATLASSIAN_CONCURRENCY = 6
    accounts = _active(mirrored, 24)
    simulator.faults.latency_ms = 100
    since = len(simulator.requests_log)
    outcome = _suspend(accounts)
    assert outcome.counts[Outcome.DONE] == 24
    searches = [s for s in simulator.requests_log[since:] if s.path.endswith("/users/search")]
    assert len(searches) <= 24  # alone: 48
    assert set(_suspensions(simulator, accounts).values()) == {1}
    suspended = Account.objects.filter(pk__in=[a.pk for a in accounts], status=AccountStatus.SUSPENDED)
    assert suspended.count() == 24  # every read-back reached its own account
    assert verify_chain().ok


def test_one_at_a_time_when_the_setting_says_one(mirrored, simulator, settings):
    settings.ATLASSIAN_CONCURRENCY = 1
    accounts = _active(mirrored, 5)
    simulator.faults.latency_ms = 30
    simulator.reset_in_flight()
    assert _suspend(accounts).counts[Outcome.DONE] == 5
    assert simulator.max_in_flight == 1


def test_the_pool_never_goes_past_the_rate_limit(mirrored, simulator, settings):
    settings.ATLASSIAN_CONCURRENCY = 6
    accounts = _active(mirrored, 8)  # three calls each: re-check, suspend, read-back
    simulator.limiter = RateLimiter(period=2.0)
    simulator.config = dataclasses.replace(simulator.config, rate_limit_per_minute=10)
    simulator.reset_in_flight()
    outcome = _suspend(accounts)
    assert outcome.counts[Outcome.DONE] == 8
    assert simulator.rate_limited == 0  # the workers waited for the window together, never got a 429
    assert set(_suspensions(simulator, accounts).values()) == {1}
    assert verify_chain().ok


def test_a_429_pauses_the_pool_and_every_account_is_still_done_once(mirrored, simulator, settings):
    settings.ATLASSIAN_CONCURRENCY = 4
    accounts = _active(mirrored, 10)
    simulator.faults.latency_ms = 20
    simulator.faults.rate_limit_burst(2, retry_after=1, after=6)
    started = time.monotonic()
    outcome = _suspend(accounts)
    assert outcome.counts[Outcome.DONE] == 10
    assert simulator.rate_limited == 2
    assert time.monotonic() - started >= 1.0  # the Retry-After was waited
    assert set(_suspensions(simulator, accounts).values()) == {1}


def test_the_account_lock_still_holds_a_pooled_change_until_its_holder_lets_go(mirrored, simulator, settings):
    settings.ATLASSIAN_CONCURRENCY = 4
    accounts = _active(mirrored, 6)
    held = accounts[2]
    with Holder(held.pk) as holder:
        released_at: list[float] = []

        def let_go():
            time.sleep(1.0)
            released_at.append(time.time())
            holder.let_go.set()

        timer = threading.Thread(target=let_go)
        timer.start()
        outcome = _suspend(accounts)
        timer.join()
    assert outcome.counts[Outcome.DONE] == 6
    (write,) = [w for w in simulator.writes_for(held.account_id) if "suspend" in w.path]
    assert write.at >= released_at[0]  # its change waited for the other one
    others = [w for a in accounts if a != held for w in simulator.writes_for(a.account_id)]
    assert any(w.at < released_at[0] for w in others)  # the rest did not


def test_the_pool_stops_handing_out_work_at_its_deadline_and_finishes_what_started(db):
    done: list[int] = []

    def work(item, fork_of):
        time.sleep(0.2)
        return item

    result = run_paced(
        list(range(20)),
        work,
        on_result=lambda item, value: done.append(value),
        deadline=time.monotonic() + 0.3,
        workers=4,
    )
    assert result.deadline_reached
    assert done == list(range(len(done)))  # in order, every started item delivered
    assert 4 <= len(done) < 20
    assert result.not_started == list(range(len(done), 20))
