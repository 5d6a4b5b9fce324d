from datetime import timedelta
from unittest import mock

import pytest
from django.db import OperationalError
from django.utils import timezone

from accounts.bulk_tasks import actor_spec, run_bulk_action
from accounts.leases import bulk_action_lease
from accounts.models import Account, AccountStatus
from governance.audit.models import AuditAction, AuditEvent
from governance.audit.record import Actor
from governance.runs import locks
from governance.runs.models import RunLock, RunStatus, TaskRun
from governance.runs.services import ABANDONED, task_run_start
from policies.leases import policy_lease
from policies.models import Enforcement, EnforcementStatus, InactivityPolicy
from policies.services import runs as policy_runs
from tests.accounts.conftest import atlassian, organization, simulator  # noqa: F401  (fixtures)
from tests.policies.conftest import RUN_AT, make_policy, mirrored  # noqa: F401  (fixtures)


def _steal(name: str, *, by: str = "the-next-run") -> None:
    """What happens while a holder is stalled past its TTL: the lease expires and another run takes it."""
    RunLock.objects.filter(name=name).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert locks.acquire(name, ttl=timedelta(minutes=30), holder=by) == by


def _remote_statuses(simulator) -> dict[int, str]:  # noqa: F811
    return {a.pk: simulator.state.user(a.account_id).status for a in Account.objects.all()}


def _expires_in(name: str) -> timedelta:
    return RunLock.objects.get(name=name).expires_at - timezone.now()


@pytest.mark.django_db
class TestRunLocks:
    def test_only_one_holder_at_a_time(self):
        first = locks.acquire("sync:demo", ttl=timedelta(minutes=5))
        assert first
        assert locks.acquire("sync:demo", ttl=timedelta(minutes=5)) is None

    def test_a_released_lease_can_be_taken_again(self):
        holder = locks.acquire("sync:demo", ttl=timedelta(minutes=5))
        locks.release("sync:demo", holder)
        assert locks.acquire("sync:demo", ttl=timedelta(minutes=5))

    def test_an_expired_lease_from_a_crashed_holder_is_taken_over(self):
        assert locks.acquire("sync:demo", ttl=timedelta(seconds=-1))
        assert locks.acquire("sync:demo", ttl=timedelta(minutes=5))

    def test_the_context_manager_refuses_when_held(self):
        with (
            locks.lease("policy:1", ttl=timedelta(minutes=1)),
            pytest.raises(locks.LockHeld),
            locks.lease("policy:1", ttl=timedelta(minutes=1)),
        ):
            pass
        with locks.lease("policy:1", ttl=timedelta(minutes=1)):
            pass


@pytest.mark.django_db
class TestRenewal:
    def test_renewing_extends_the_lease_from_now(self):
        holder = locks.acquire("sync:demo", ttl=timedelta(seconds=30))
        assert locks.renew("sync:demo", holder, ttl=timedelta(hours=1))
        assert timedelta(minutes=59) < _expires_in("sync:demo") <= timedelta(hours=1)

    def test_a_lease_taken_over_cannot_be_renewed_and_the_new_holder_keeps_it(self):
        holder = locks.acquire("sync:demo", ttl=timedelta(minutes=5))
        _steal("sync:demo", by="other")
        assert not locks.renew("sync:demo", holder, ttl=timedelta(hours=1))
        lease = RunLock.objects.get(name="sync:demo")
        assert lease.holder == "other"
        assert _expires_in("sync:demo") <= timedelta(minutes=30)

    def test_a_released_lease_cannot_be_renewed(self):
        holder = locks.acquire("sync:demo", ttl=timedelta(minutes=5))
        locks.release("sync:demo", holder)
        assert not locks.renew("sync:demo", holder, ttl=timedelta(hours=1))
        assert locks.acquire("sync:demo", ttl=timedelta(minutes=5))

    def test_a_lease_left_to_a_follow_up_is_taken_over_by_one_taker_only(self):
        left = locks.hold("bulk_action:7", ttl=timedelta(minutes=5))
        taken = locks.take_over("bulk_action:7", left.holder, ttl=timedelta(minutes=30))
        assert taken is not None
        assert taken.holder != left.holder
        assert locks.take_over("bulk_action:7", left.holder, ttl=timedelta(minutes=30)) is None  # delivered twice
        assert _expires_in("bulk_action:7") > timedelta(minutes=29)
        assert not locks.renew("bulk_action:7", left.holder, ttl=timedelta(hours=1))  # the first holder's is gone
        assert locks.acquire("bulk_action:7", ttl=timedelta(minutes=5)) is None

    def test_keep_now_renews_before_it_is_due(self, django_assert_num_queries):
        lease = locks.hold("sync:demo", ttl=timedelta(minutes=30))
        RunLock.objects.filter(name="sync:demo").update(expires_at=timezone.now() + timedelta(minutes=1))
        with django_assert_num_queries(1):
            lease.keep_now()
        assert _expires_in("sync:demo") > timedelta(minutes=29)

    def test_keep_goes_to_the_database_only_once_renewal_is_due(self, django_assert_num_queries):
        lease = locks.hold("sync:demo", ttl=timedelta(minutes=30))
        with django_assert_num_queries(0):
            lease.keep()
            lease.keep()
        lease.renew_every = timedelta(0)
        with django_assert_num_queries(1):
            lease.keep()
        assert _expires_in("sync:demo") > timedelta(minutes=29)

    def test_keep_raises_once_the_lease_is_lost_and_goes_on_raising(self):
        lease = locks.hold("sync:demo", ttl=timedelta(minutes=30))
        lease.renew_every = timedelta(0)
        _steal("sync:demo")
        with pytest.raises(locks.LeaseLost):
            lease.keep()
        _steal("sync:demo", by="yet-another")  # even were it free again, a lost lease stays lost
        with pytest.raises(locks.LeaseLost):
            lease.keep()
        lease.release()
        assert RunLock.objects.get(name="sync:demo").holder == "yet-another"


@pytest.mark.django_db
class TestDatabaseClock:
    """Leases compare against the database's clock: a host whose own clock is off cannot steal or lose one."""

    def test_a_process_whose_clock_runs_a_day_ahead_cannot_take_a_live_lease(self):
        assert locks.acquire("sync:demo", ttl=timedelta(minutes=5), holder="honest-host")
        with mock.patch("django.utils.timezone.now", return_value=timezone.now() + timedelta(days=1)):
            assert locks.acquire("sync:demo", ttl=timedelta(minutes=5), holder="fast-host") is None
            assert locks.held_by_others(["sync:demo"], holder="fast-host") == {"sync:demo"}
        assert RunLock.objects.get(name="sync:demo").holder == "honest-host"

    def test_a_holder_whose_clock_runs_a_day_behind_still_gets_its_full_ttl(self):
        with mock.patch("django.utils.timezone.now", return_value=timezone.now() - timedelta(days=1)):
            assert locks.acquire("sync:demo", ttl=timedelta(hours=1), holder="slow-host")
            assert locks.renew("sync:demo", "slow-host", ttl=timedelta(hours=1))
        assert _expires_in("sync:demo") > timedelta(minutes=59)
        assert locks.acquire("sync:demo", ttl=timedelta(minutes=5), holder="other") is None


@pytest.mark.django_db
class TestAbandonedRuns:
    """A run is closed as abandoned only when it is old and its lease is free: live runs renew theirs."""

    def _old_run(self, **fields) -> TaskRun:
        old = timezone.now() - timedelta(hours=2)
        return task_run_start(now=old, **fields)

    @pytest.mark.parametrize(
        ("fields", "lease"),
        [
            (dict(name="sync", organization="acme"), "sync:acme"),
            (dict(name="policy", subject="policy:7 Jira 90 days"), "policy:7"),
        ],
    )
    def test_an_old_run_whose_lease_is_live_is_left_running(self, fields, lease):
        old = self._old_run(**fields)
        assert locks.acquire(lease, ttl=timedelta(minutes=30), holder="the-long-run")
        refused = task_run_start(**fields)  # what a refused run records
        old.refresh_from_db()
        assert old.status == RunStatus.RUNNING
        assert refused.status == RunStatus.RUNNING

    @pytest.mark.parametrize(
        ("fields", "lease"),
        [
            (dict(name="sync", organization="acme"), "sync:acme"),
            (dict(name="policy", subject="policy:7 Jira 90 days"), "policy:7"),
        ],
    )
    def test_an_old_run_is_closed_once_its_lease_expired_or_the_caller_took_it(self, fields, lease):
        old = self._old_run(**fields)
        assert locks.acquire(lease, ttl=timedelta(seconds=-1), holder="the-dead-run")
        task_run_start(**fields)
        old.refresh_from_db()
        assert (old.status, old.error) == (RunStatus.FAILED, ABANDONED)

        older = self._old_run(**fields)
        mine = locks.acquire(lease, ttl=timedelta(minutes=30))
        task_run_start(lease_holder=mine, **fields)
        older.refresh_from_db()
        assert older.status == RunStatus.FAILED

    def test_bulk_actions_are_judged_by_their_own_run_lease(self):
        live, dead = self._old_run(name="bulk_action"), self._old_run(name="bulk_action")
        assert locks.acquire(bulk_action_lease(live.pk), ttl=timedelta(minutes=30))
        task_run_start(name="bulk_action")
        live.refresh_from_db()
        dead.refresh_from_db()
        assert (live.status, dead.status) == (RunStatus.RUNNING, RunStatus.FAILED)

    def test_a_young_run_is_never_closed(self):
        young = task_run_start(name="sync", organization="acme")
        task_run_start(name="sync", organization="acme")
        young.refresh_from_db()
        assert young.status == RunStatus.RUNNING


@pytest.mark.django_db
class TestPolicyRunLease:
    def test_a_failure_opening_the_run_releases_the_lease(self, organization):  # noqa: F811
        policy = InactivityPolicy.objects.create(organization=organization, name="p", trigger_days=90)
        locked = OperationalError("database is locked")
        with mock.patch.object(policy_runs, "task_run_start", side_effect=locked), pytest.raises(OperationalError):
            policy_runs.policy_run(policy=policy, now=RUN_AT)
        assert RunLock.objects.get(name=policy_lease(policy.pk)).holder == ""
        assert locks.acquire(policy_lease(policy.pk), ttl=timedelta(minutes=5))

    def test_a_run_that_lost_its_lease_stops_before_its_next_remote_action(
        self,
        make_policy,  # noqa: F811
        simulator,  # noqa: F811
        monkeypatch,
    ):
        monkeypatch.setattr(locks, "RENEW_SHARE", 0)  # check the database before every action
        policy = make_policy()
        name = policy_lease(policy.pk)
        execute = policy_runs.execute
        calls = []

        def execute_then_stall(enforcement, **kwargs):
            calls.append(enforcement.pk)
            status = execute(enforcement, **kwargs)
            _steal(name)  # the worker stalls past its TTL after its first action
            return status

        monkeypatch.setattr(policy_runs, "execute", execute_then_stall)
        before = _remote_statuses(simulator)
        result = policy_runs.policy_run(policy=policy, now=RUN_AT)

        assert result.status == RunStatus.HALTED
        assert len(calls) == 1
        assert result.counts["executed_done"] == 1
        assert result.counts["not_executed"] == result.counts["to_act"] - 1 > 0
        changed = {pk for pk, status in _remote_statuses(simulator).items() if status != before[pk]}
        assert changed == {Enforcement.objects.get(pk=calls[0]).account_id}
        # Nothing was left claimed, so the run that took over can act on the rest at once.
        assert not Enforcement.objects.filter(status=EnforcementStatus.EXECUTING).exists()
        assert "lease" in TaskRun.objects.get(pk=result.run.pk).error
        assert AuditEvent.objects.filter(action=AuditAction.POLICY_RUN_HALTED, reason__contains="lease").count() == 1
        assert RunLock.objects.get(name=name).holder == "the-next-run"  # the loser did not release it

    def test_a_long_run_renews_its_lease(self, make_policy, monkeypatch):  # noqa: F811
        monkeypatch.setattr(locks, "RENEW_SHARE", 0)
        policy = make_policy()
        name = policy_lease(policy.pk)
        renewals = []
        renew = locks.renew

        def recording_renew(*args, **kwargs):
            renewals.append(RunLock.objects.get(name=name).expires_at)
            return renew(*args, **kwargs)

        monkeypatch.setattr(locks, "renew", recording_renew)
        result = policy_runs.policy_run(policy=policy, now=RUN_AT)
        assert result.status == RunStatus.SUCCEEDED
        assert len(renewals) >= result.counts["to_act"] + 1
        assert renewals == sorted(renewals)
        assert renewals[0] < renewals[-1]


@pytest.mark.django_db
class TestBulkActionLease:
    def test_a_bulk_action_that_lost_its_lease_stops_before_the_next_account(
        self,
        alice,
        mirrored,  # noqa: F811
        simulator,  # noqa: F811
        monkeypatch,
    ):
        from accounts import bulk

        monkeypatch.setattr(locks, "RENEW_SHARE", 0)
        ids = list(
            Account.objects.exclude(management_source="synced")
            .filter(status=AccountStatus.ACTIVE, is_org_admin=False, managed=True)
            .order_by("pk")
            .values_list("pk", flat=True)[:3]
        )
        run = task_run_start(name="bulk_action")
        apply_one = bulk._apply_one

        def apply_then_stall(*args, **kwargs):
            result = apply_one(*args, **kwargs)
            _steal(bulk_action_lease(run.pk))
            return result

        monkeypatch.setattr(bulk, "_apply_one", apply_then_stall)
        counts = run_bulk_action(run.pk, "suspend", ids, {"reason": "r"}, actor_spec(Actor.for_user(alice)))

        assert counts["done"] == 1
        run.refresh_from_db()
        assert run.status == RunStatus.HALTED
        assert run.error.startswith("Stopped after 1 of 3 accounts")
        remote = [simulator.state.user(a.account_id).status for a in Account.objects.filter(pk__in=ids).order_by("pk")]
        assert remote == ["suspended", "active", "active"]
        assert AuditEvent.objects.filter(action=AuditAction.ACCOUNT_SUSPENDED).count() == 1
