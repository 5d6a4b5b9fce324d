"""Writes name a real directory, never ``-`` (DESIGN.md 5.12), against the simulator over HTTP.

The simulator refuses ``-`` on every write by default (``writes_need_directory``), as the
documents have it; its request log shows what the portal sent.
"""

from urllib.parse import quote

import pytest
import requests

from accounts.bulk import Outcome, accounts_bulk_apply
from accounts.clients import client_for
from accounts.models import Account, AccountStatus, Group, Organization
from accounts.services.errors import ServiceRefused
from accounts.services.lifecycle import account_restore, account_suspend
from accounts.services.memberships import membership_add, membership_remove
from accounts.sync.runner import organization_sync
from governance.audit.record import Actor
from tests.accounts.conftest import API_KEY
from tests.group_forms import both_group_id_forms

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("directory-test")


@pytest.fixture
def mirrored(organization, atlassian):
    assert organization_sync(organization=organization, client=atlassian).ok
    return organization


def write_paths(simulator) -> list[str]:
    """The paths of every write the simulator was sent (reads: GET and the /search POSTs)."""
    return [
        served.path
        for served in simulator.requests_log
        if served.method != "GET" and not served.path.endswith("/search")
    ]


def _plain(n: int, **extra) -> list[Account]:
    accounts = Account.objects.exclude(management_source="synced").filter(
        status=AccountStatus.ACTIVE, is_org_admin=False, managed=True, **extra
    )
    return list(accounts.order_by("pk")[:n])


def test_the_simulator_refuses_a_write_to_directory_dash_by_default(simulator):
    user = simulator.state.find_user(status="active", org_admin=False)
    url = f"{simulator.base_url}/admin/v2/orgs/sim-org/directories/-/users/{quote(user, safe='')}/suspend"
    response = requests.post(url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=5)
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "ADMIN-404-1"
    assert simulator.state.user(user).status == "active"


def test_the_sync_stores_each_account_s_directory_and_none_for_a_managed_account_in_no_directory(simulator, mirrored):
    state = simulator.state
    assert mirrored.directories == dict(state.data.directories)
    for account in Account.objects.filter(organization=mirrored, account_type="atlassian"):
        remote = state.user(account.account_id)
        assert account.directory_id == remote.directory_id, account.account_id
    outside = Account.objects.filter(organization=mirrored, status=AccountStatus.NOT_IN_DIRECTORY)
    assert outside.exists()
    assert set(outside.values_list("directory_id", flat=True)) == {None}


def test_the_sync_lists_each_directory_once_not_each_user(simulator, organization, atlassian):
    before = len(simulator.requests_log)
    assert organization_sync(organization=organization, client=atlassian).ok
    searches = [s.path for s in simulator.requests_log[before:] if s.path.endswith("/users/search")]
    directories = simulator.state.directory_ids
    per_directory = {d: sum(1 for p in searches if f"/directories/{d}/" in p) for d in directories}
    # 120 users in pages of 100: at most two pages per directory.
    assert all(1 <= n <= 2 for n in per_directory.values()), per_directory


@both_group_id_forms
def test_suspend_restore_and_membership_writes_name_the_real_directory(simulator, mirrored, atlassian):
    account = _plain(1)[0]
    account_suspend(account=account, client=atlassian, actor=ACTOR, reason="test")
    account_restore(account=account, client=atlassian, actor=ACTOR, reason="test")
    group = Group.objects.filter(
        organization=mirrored, external_synced=False, directory_id=account.directory_id
    ).exclude(memberships__account=account)[0]
    membership_add(account=account, group=group, client=atlassian, actor=ACTOR, reason="test")
    membership_remove(account=account, group=group, client=atlassian, actor=ACTOR, reason="test")
    writes = write_paths(simulator)
    assert len(writes) == 4
    assert all(f"/directories/{account.directory_id}/" in path for path in writes), writes
    assert not any("/directories/-/" in path for path in writes)
    assert simulator.state.user(account.account_id).status == "active"


def test_an_account_with_no_known_directory_is_refused_up_front(simulator, mirrored, atlassian):
    account = _plain(1)[0]
    Account.objects.filter(pk=account.pk).update(directory_id=None)
    account.refresh_from_db()
    sent = len(simulator.requests_log)
    for service in (account_suspend, account_restore):
        with pytest.raises(ServiceRefused, match="no directory the portal knows"):
            service(account=account, client=atlassian, actor=ACTOR, reason="test")
    assert simulator.requests_log[sent:] == []
    outcome = accounts_bulk_apply(
        action="suspend",
        account_ids=[account.pk],
        params={"reason": "test"},
        actor=ACTOR,
        client_factory=lambda org: client_for(org),
    )
    assert [r.outcome for r in outcome.results] == [Outcome.REFUSED]
    assert "run a sync" in outcome.results[0].message
    assert write_paths(simulator) == []


def test_a_bulk_suspension_of_many_accounts_never_sends_a_dash(simulator, mirrored):
    accounts = _plain(6)
    outcome = accounts_bulk_apply(
        action="suspend",
        account_ids=[a.pk for a in accounts],
        params={"reason": "test"},
        actor=ACTOR,
        client_factory=lambda org: client_for(org),
    )
    assert outcome.counts[Outcome.DONE] == len(accounts), outcome.results
    writes = write_paths(simulator)
    assert len(writes) == len(accounts)
    assert not any("/directories/-/" in path for path in writes)
    assert Organization.objects.get(pk=mirrored.pk).directories
