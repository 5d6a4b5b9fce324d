"""Re-checks read a hundred accounts at a time (accounts/services/read_ahead.py), against the
simulator over HTTP: a record read ahead is used only when it is as good as the account's own read
right before acting (DESIGN.md 5.10); every other case reads the account by id, as before."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from accounts.bulk import Outcome, accounts_bulk_apply
from accounts.clients import client_for
from accounts.models import Account, AccountStatus
from accounts.services.errors import ChangedSinceSync
from accounts.services.lifecycle import account_suspend
from accounts.services.read_ahead import ReadAhead
from accounts.services.recheck import account_recheck
from accounts.sync.runner import organization_sync
from governance.atlassian.client import AtlassianClient
from governance.atlassian.errors import AtlassianError
from governance.audit.models import AuditAction, AuditEvent
from governance.audit.record import Actor
from tests.accounts.conftest import SIM_NOW

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("read-ahead test")


@pytest.fixture
def mirrored(organization, atlassian):
    assert organization_sync(organization=organization, client=atlassian).ok
    return organization


@pytest.fixture
def searches(monkeypatch):
    """Every user search the clients send, as (kind, directory, how many asked for)."""
    sent: list[tuple[str, str | None, int]] = []
    by_ids, by_emails = AtlassianClient.users_by_ids, AtlassianClient.users_by_emails

    def ids(self, account_ids, **kw):
        sent.append(("ids", kw.get("directory_id"), len(account_ids)))
        return by_ids(self, account_ids, **kw)

    def emails(self, addresses, **kw):
        sent.append(("emails", kw.get("directory_id"), len(addresses)))
        return by_emails(self, addresses, **kw)

    monkeypatch.setattr(AtlassianClient, "users_by_ids", ids)
    monkeypatch.setattr(AtlassianClient, "users_by_emails", emails)
    return sent


def _active(organization, n: int, **filters) -> list[Account]:
    accounts = list(
        Account.objects.filter(
            organization=organization,
            status=AccountStatus.ACTIVE,
            is_org_admin=False,
            account_type="atlassian",
            **filters,
        ).order_by("account_id")[:n]
    )
    assert len(accounts) == n
    return accounts


def _suspend(accounts):
    return accounts_bulk_apply(
        action="suspend",
        account_ids=[a.pk for a in accounts],
        params={"reason": "leavers"},
        actor=ACTOR,
        client_factory=client_for,
    )


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_bulk_suspension_re_checks_its_accounts_with_one_search_by_email(mirrored, searches):
    accounts = _active(mirrored, 30, email__gt="")
    outcome = _suspend(accounts)
    assert outcome.counts[Outcome.DONE] == 30
    directories = {a.directory_id for a in accounts}
    by_email = [s for s in searches if s[0] == "emails"]
    assert sorted(s[1] for s in by_email) == sorted(directories)  # one search in each directory
    assert sum(s[2] for s in by_email) == 30
    # By id: the read-backs only (in no directory), none for a re-check.
    assert [s for s in searches if s[0] == "ids" and s[1] is not None] == []
    assert len([s for s in searches if s[0] == "ids"]) == 30
    assert Account.objects.filter(pk__in=[a.pk for a in accounts], status=AccountStatus.SUSPENDED).count() == 30


def test_an_account_active_since_the_sync_is_still_left_alone(mirrored, simulator):
    steady, woke = _active(mirrored, 2, email__gt="", directory_id=_first_directory(mirrored))
    simulator.state.set_last_active(woke.account_id, "jira-software", SIM_NOW - timedelta(minutes=5))
    ahead = ReadAhead([steady.pk, woke.pk])
    with client_for(mirrored) as client:
        assert account_recheck(account=steady, client=client, ahead=ahead).account_id == steady.account_id
        with pytest.raises(ChangedSinceSync, match="was active in Atlassian"):
            account_recheck(account=woke, client=client, ahead=ahead)
    assert ahead.searches == 1
    assert ahead.used == 2


def test_a_record_read_before_the_portal_changed_the_account_is_not_used(mirrored, simulator, searches):
    first, second = _active(mirrored, 2, email__gt="", directory_id=_first_directory(mirrored))
    ahead = ReadAhead([first.pk, second.pk])
    with client_for(mirrored) as client:
        assert ahead.record_for(first, client) is not None  # reads both
        # Another change of the portal (a bulk action elsewhere) suspends the second meanwhile: it
        # stamps the account before its call and after it.
        simulator.state.suspend(simulator.state.account(second.account_id))
        Account.objects.filter(pk=second.pk).update(portal_changed_at=timezone.now())
        assert ahead.record_for(second, client) is None
        with pytest.raises(ChangedSinceSync, match="status changed since the sync"):
            account_recheck(account=second, client=client, ahead=ReadAhead([second.pk]))
    assert [s[0] for s in searches] == ["emails", "emails"]


def test_a_change_that_got_no_answer_makes_a_record_read_meanwhile_unusable(mirrored, monkeypatch):
    """A call may land after a read sent while it was on its way, and then get no answer: the
    account is stamped after such a call too, and the record read meanwhile is not used."""
    first, second = _active(mirrored, 2, email__gt="", directory_id=_first_directory(mirrored))
    ahead = ReadAhead([first.pk, second.pk])
    with client_for(mirrored) as client:

        def no_answer(*args, **kwargs):
            # On its way (stamped before it already): the other worker reads both accounts.
            assert ahead.record_for(first, client) is not None
            raise AtlassianError("Atlassian did not answer in time", retryable=True)

        monkeypatch.setattr(client, "user_suspend", no_answer)
        with pytest.raises(AtlassianError):
            account_suspend(account=second, client=client, actor=ACTOR, reason="leaver")
        assert ahead.searches == 1
        assert ahead.record_for(second, client) is None


def test_a_record_older_than_its_limit_is_not_used(mirrored, simulator):
    first, second = _active(mirrored, 2, email__gt="", directory_id=_first_directory(mirrored))
    clock = Clock()
    ahead = ReadAhead([first.pk, second.pk], max_age=15, clock=clock)
    with client_for(mirrored) as client:
        assert ahead.record_for(first, client) is not None
        clock.now += 15.5
        assert ahead.record_for(second, client) is None
    # Within the limit it is used.
    ahead = ReadAhead([first.pk, second.pk], max_age=15, clock=clock)
    with client_for(mirrored) as client:
        assert ahead.record_for(first, client) is not None
        clock.now += 14.5
        assert ahead.record_for(second, client).account_id == second.account_id


def test_an_account_whose_email_changed_reads_its_own_and_is_still_re_checked(mirrored, simulator, searches):
    first, second = _active(mirrored, 2, email__gt="", directory_id=_first_directory(mirrored))
    remote = simulator.state.account(second.account_id)
    remote.email = "renamed-" + remote.email
    simulator.state.suspend(remote)  # and suspended in Atlassian since the sync
    ahead = ReadAhead([first.pk, second.pk])
    with client_for(mirrored) as client:
        assert ahead.record_for(first, client) is not None
        assert ahead.record_for(second, client) is None  # not found by its old address
        with pytest.raises(ChangedSinceSync, match="status changed since the sync"):
            account_recheck(account=second, client=client, ahead=ahead)
    assert searches[-1] == ("ids", second.directory_id, 1)  # its own read, by id


def test_an_account_without_an_email_in_the_mirror_reads_its_own(mirrored, searches):
    first, second = _active(mirrored, 2, email__gt="", directory_id=_first_directory(mirrored))
    Account.objects.filter(pk=second.pk).update(email="")
    second.refresh_from_db()
    ahead = ReadAhead([first.pk, second.pk])
    with client_for(mirrored) as client:
        assert ahead.record_for(first, client) is not None
        assert ahead.record_for(second, client) is None
        assert account_recheck(account=second, client=client, ahead=ahead).account_id == second.account_id
    assert searches == [("emails", first.directory_id, 1), ("ids", second.directory_id, 1)]


def test_each_account_is_searched_for_in_its_own_directory(mirrored, simulator, searches):
    accounts = Account.objects.filter(organization=mirrored, directory_id__gt="", status=AccountStatus.ACTIVE)
    directories = sorted(set(accounts.values_list("directory_id", flat=True)))
    assert len(directories) >= 2, "the simulated organization has two directories"
    one = _active(mirrored, 1, email__gt="", directory_id=directories[0])[0]
    other = _active(mirrored, 1, email__gt="", directory_id=directories[1])[0]
    ahead = ReadAhead([one.pk, other.pk])
    with client_for(mirrored) as client:
        assert ahead.record_for(one, client).account_id == one.account_id
        assert ahead.record_for(other, client).account_id == other.account_id
    assert sorted(searches) == sorted([("emails", directories[0], 1), ("emails", directories[1], 1)])


def test_an_account_moved_to_another_directory_is_not_found_in_its_old_one(mirrored, simulator):
    first, moved = _active(mirrored, 2, email__gt="", directory_id=_first_directory(mirrored))
    target = next(i for i, d in enumerate(simulator.state.directory_ids) if d != moved.directory_id)
    simulator.state.move_to_directory(moved.account_id, target)
    ahead = ReadAhead([first.pk, moved.pk])
    with client_for(mirrored) as client:
        assert ahead.record_for(first, client) is not None
        assert ahead.record_for(moved, client) is None
        with pytest.raises(ChangedSinceSync, match="no longer in the directory"):
            account_recheck(account=moved, client=client, ahead=ahead)


def test_a_failed_search_lets_every_account_read_its_own(mirrored, monkeypatch, searches):
    first, second = _active(mirrored, 2, email__gt="", directory_id=_first_directory(mirrored))

    def refused(self, *args, **kwargs):
        searches.append(("emails", kwargs.get("directory_id"), len(args[0])))
        raise AtlassianError("Atlassian answered 500", status=500, retryable=True)

    monkeypatch.setattr(AtlassianClient, "users_by_emails", refused)
    ahead = ReadAhead([first.pk, second.pk])
    with client_for(mirrored) as client:
        assert ahead.record_for(first, client) is None
        assert ahead.record_for(second, client) is None  # not waiting, and not searched again
        assert account_recheck(account=second, client=client, ahead=ahead).account_id == second.account_id
    assert [s[0] for s in searches] == ["emails", "emails", "ids"]


@pytest.mark.django_db(transaction=True)
def test_workers_waiting_for_one_search_share_it(mirrored, searches):
    accounts = _active(mirrored, 12, email__gt="", directory_id=_first_directory(mirrored))
    ahead = ReadAhead([a.pk for a in accounts])
    found: dict[int, str] = {}
    start = threading.Barrier(len(accounts))

    def worker(account):
        try:
            with client_for(mirrored) as client:
                start.wait()
                user = ahead.record_for(account, client)
                found[account.pk] = user.account_id if user else ""
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(a,)) for a in accounts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert found == {a.pk: a.account_id for a in accounts}
    assert [s[0] for s in searches] == ["emails"] * ahead.searches
    assert ahead.searches <= 2  # one, or two when a worker came before the first had reserved


def test_a_bulk_suspension_still_skips_an_account_active_since_the_sync(mirrored, simulator):
    """What the run does does not depend on the read-ahead: the others are suspended, the one
    active since the sync is skipped, one audit event each."""
    accounts = _active(mirrored, 6, email__gt="", directory_id=_first_directory(mirrored))
    woke = accounts[2]
    simulator.state.set_last_active(woke.account_id, "jira-software", SIM_NOW - timedelta(minutes=5))
    outcome = _suspend(accounts)
    results = {r.account_pk: r for r in outcome.results}
    assert results[woke.pk].outcome == Outcome.SKIPPED
    assert "was active in Atlassian" in results[woke.pk].message
    assert outcome.counts[Outcome.DONE] == 5
    events = AuditEvent.objects.filter(action=AuditAction.ACCOUNT_SUSPENDED, correlation_id=outcome.correlation_id)
    assert sorted(events.values_list("target_id", flat=True)) == sorted(str(a.pk) for a in accounts if a != woke)


def _first_directory(organization) -> str:
    return (
        Account.objects.filter(organization=organization, status=AccountStatus.ACTIVE, directory_id__gt="")
        .order_by("directory_id")
        .values_list("directory_id", flat=True)
        .first()
    )
