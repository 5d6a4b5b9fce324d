"""A complete user listing is one that brought everyone Atlassian counts (GET .../users/count).

The v2 search carries no total, so a cursor that skips people looks like a complete answer; only
Atlassian's own count, asked before and after the listing, shows the shortfall. Here the count is
told apart from the listing by a client whose count is one more than the listing brings (a page
that lost a person), or whose count falls during the listing (a person who really left).
"""

import pytest

from accounts.models import Account, AccountStatus, Organization
from accounts.sync.runner import organization_sync
from governance.audit.models import AuditAction, AuditEvent
from governance.runs.models import RunStatus

pytestmark = pytest.mark.django_db


class _Counts:
    """The sync's client, with Atlassian's user count offset by ``offsets`` (before, after the listing)."""

    def __init__(self, client, *offsets: int):
        self._client, self._offsets, self.asked = client, list(offsets), 0

    def __getattr__(self, name):
        return getattr(self._client, name)

    def count_users(self) -> int:
        offset = self._offsets[min(self.asked, len(self._offsets) - 1)]
        self.asked += 1
        return self._client.count_users() + offset


@pytest.fixture
def mirrored(organization, atlassian):
    assert organization_sync(organization=organization, client=atlassian).ok
    organization.refresh_from_db()
    return organization


def _someone_leaves(simulator, organization) -> str:
    account_id = (
        Account.objects.filter(organization=organization, status=AccountStatus.ACTIVE, is_org_admin=False)
        .order_by("account_id")
        .values_list("account_id", flat=True)[0]
    )
    simulator.state.remove_user(account_id)
    return account_id


def test_a_listing_short_of_atlassians_count_fails_the_sync_and_removes_nobody(mirrored, atlassian, simulator):
    gone = _someone_leaves(simulator, mirrored)
    completed_before = mirrored.last_complete_sync_at
    client = _Counts(atlassian, 1, 1)  # one more person than the listing brings: a skipped one

    result = organization_sync(organization=mirrored, client=client)

    assert result.status == RunStatus.FAILED
    assert "Nobody was marked removed" in result.error
    assert client.asked == 2
    assert not Account.objects.filter(organization=mirrored, status=AccountStatus.REMOVED).exists()
    assert Account.objects.get(account_id=gone).status == AccountStatus.ACTIVE
    assert Organization.objects.get(pk=mirrored.pk).last_complete_sync_at == completed_before
    failed = AuditEvent.objects.get(correlation_id=result.run.correlation_id, action=AuditAction.SYNC_FAILED)
    assert "distinct users" in failed.reason


def test_people_leaving_during_the_listing_are_no_shortfall(mirrored, atlassian, simulator):
    gone = _someone_leaves(simulator, mirrored)
    client = _Counts(atlassian, 1, 0)  # counted before the listing, gone by its end

    result = organization_sync(organization=mirrored, client=client)

    assert result.ok, result.error
    assert result.counts["accounts_removed"] == 1
    assert Account.objects.get(account_id=gone).status == AccountStatus.REMOVED


def test_a_complete_listing_matches_atlassians_count(mirrored, atlassian, simulator):
    result = organization_sync(organization=mirrored, client=atlassian)

    assert result.ok, result.error
    assert result.counts["users_seen"] == atlassian.count_users()
