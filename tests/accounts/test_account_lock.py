"""One change to an account at a time (accounts/services/account_lock.py): a second change to the
same account waits for the first to finish (re-check, remote call, read-back and mirror write), so
neither reads back the other's half-done change as its own, and a change that cannot get the lock
in time sends nothing. Threads here stand for other workers: on PostgreSQL each has its own
connection (advisory locks), on SQLite its own lock-file descriptor."""

import threading
import time

import pytest

from accounts.bulk import accounts_bulk_apply
from accounts.clients import client_for
from accounts.models import Account, AccountStatus
from accounts.services import account_lock
from accounts.services.account_lock import AccountBusy, one_change_at_a_time
from accounts.services.lifecycle import account_suspend
from accounts.sync.runner import organization_sync
from governance.audit.models import AuditAction, AuditEvent
from governance.audit.record import Actor
from tests.account_locks import Holder, taken_elsewhere

pytestmark = pytest.mark.django_db(transaction=True)
ACTOR = Actor.system("lock test")


def test_a_second_change_to_the_same_account_waits_and_gives_up_with_a_clear_error():
    with Holder(41):
        started = time.monotonic()
        with (
            pytest.raises(AccountBusy, match="Another change to this account"),
            one_change_at_a_time(41, wait=0.3),
        ):
            pytest.fail("entered while another change held the account")
        assert time.monotonic() - started >= 0.3
    with one_change_at_a_time(41, wait=5):  # free again once the first change is over
        pass


def test_changes_to_other_accounts_do_not_wait():
    with Holder(41), one_change_at_a_time(42, wait=0):
        pass


def test_a_multi_step_change_holds_its_account_until_its_last_step():
    with one_change_at_a_time(41):
        with one_change_at_a_time(41, wait=0):  # a step of the same change: no wait
            pass
        assert taken_elsewhere(41)  # the inner step's end does not let go
    assert not taken_elsewhere(41)


def test_the_lock_is_let_go_when_the_change_fails():
    with pytest.raises(RuntimeError), one_change_at_a_time(41):
        raise RuntimeError("the remote call failed")
    assert not taken_elsewhere(41)


@pytest.fixture
def mirrored(organization, atlassian):
    assert organization_sync(organization=organization, client=atlassian).ok
    return organization


def _plain_accounts(count: int) -> list[int]:
    plain = Account.objects.exclude(management_source="synced").filter(
        status=AccountStatus.ACTIVE, is_org_admin=False, managed=True
    )
    return list(plain.order_by("pk").values_list("pk", flat=True)[:count])


def _plain_account() -> Account:
    return Account.objects.get(pk=_plain_accounts(1)[0])


class _Recording:
    """The client, noting when each suspension is sent."""

    def __init__(self, client, log):
        self._client, self._log = client, log

    def __getattr__(self, name):
        return getattr(self._client, name)

    def user_suspend(self, *args, **kwargs):
        self._log.append("suspend sent")
        return self._client.user_suspend(*args, **kwargs)


def test_a_suspension_waits_for_the_change_under_way_to_finish(simulator, mirrored, atlassian):
    account = _plain_account()
    with Holder(account.pk) as holder:
        # A sleeping thread, not threading.Timer: a Timer's timed wait never expires under Debian's
        # libfaketime (the CI's timeless run).
        threading.Thread(target=lambda: (time.sleep(0.3), holder.let_go.set())).start()
        account_suspend(account=account, client=_Recording(atlassian, holder.log), actor=ACTOR, reason="idle")
    assert holder.log == ["released", "suspend sent"]
    assert simulator.state.user(account.account_id).status == "suspended"
    assert AuditEvent.objects.filter(action=AuditAction.ACCOUNT_SUSPENDED, target_id=str(account.pk)).count() == 1


def test_a_change_that_cannot_get_the_account_sends_nothing(simulator, mirrored, atlassian, monkeypatch):
    monkeypatch.setattr(account_lock, "WAIT_SECONDS", 0.2)
    account = _plain_account()
    events = AuditEvent.objects.count()
    with Holder(account.pk) as holder, pytest.raises(AccountBusy):
        account_suspend(account=account, client=_Recording(atlassian, holder.log), actor=ACTOR, reason="idle")
    assert holder.log == ["released"]
    assert simulator.state.user(account.account_id).status == "active"
    assert Account.objects.get(pk=account.pk).status == AccountStatus.ACTIVE
    assert AuditEvent.objects.count() == events


def test_a_bulk_action_reports_an_account_it_could_not_get_as_failed(simulator, mirrored, monkeypatch):
    monkeypatch.setattr(account_lock, "WAIT_SECONDS", 0.2)
    busy, free = Account.objects.filter(pk__in=_plain_accounts(2)).order_by("pk")
    with Holder(busy.pk):
        outcome = accounts_bulk_apply(
            action="suspend",
            account_ids=[busy.pk, free.pk],
            params={"reason": "leavers"},
            actor=ACTOR,
            client_factory=client_for,
        )
    assert outcome.counts["failed"] == 1
    assert outcome.counts["done"] == 1
    failed = next(r for r in outcome.results if r.account_pk == busy.pk)
    assert "Another change to this account" in failed.message
    assert simulator.state.user(busy.account_id).status == "active"
    assert simulator.state.user(free.account_id).status == "suspended"
