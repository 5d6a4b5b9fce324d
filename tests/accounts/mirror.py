"""One account's mirror against the simulator's own state, field by field (no tests here).

The simulator's side is read from its state directly (not through the API the portal reads), so
a mapping mistake in the portal cannot hide itself.
"""

from datetime import timedelta

import time_machine
from django.utils import timezone

from accounts.models import Account, Membership, ProductAccess
from accounts.sync import users
from accounts.sync.runner import organization_sync
from accounts.sync.users import STATUS_FROM_REMOTE
from governance.atlassian.groupids import canonical_group_id
from governance.atlassian.simulator.dataset import PRODUCT_BY_KEY
from governance.audit.models import AuditAction, AuditEvent

# Sync counters that say the mirror had to change (a sync after a refreshed change must find none).
SYNC_CHANGES = (
    "accounts_created",
    "accounts_updated",
    "accounts_removed",
    "accounts_deferred",
    "memberships_added",
    "memberships_removed",
    "product_access_written",
    "activity_blanked",
)


def _ms(value):
    """Atlassian's timestamps carry milliseconds: what the mirror can hold of the simulator's value."""
    return None if value is None else value.replace(microsecond=value.microsecond // 1000 * 1000)


def mirror_differences(simulator, account: Account) -> dict:
    """``{field: (mirror, simulator)}`` for each field where the two differ (empty: equal)."""
    account = Account.objects.get(pk=account.pk)
    state = simulator.state
    remote = state.user(account.account_id)
    assert remote is not None, f"{account.account_id} is not in the simulator"
    held = {state.data.resource_id(PRODUCT_BY_KEY[key]): _ms(remote.last_active[key]) for key in remote.products}
    expected = {
        "status": STATUS_FROM_REMOTE[remote.status],
        # The snapshot spells group ids as the users' expansion does (ARIs); the mirror keeps them bare.
        "memberships": sorted(canonical_group_id(g) for g in remote.group_ids),
        "product_access": held,
        "last_active": max((when for when in held.values() if when is not None), default=None),
        "billable": state.billable(state.account(account.account_id)),
        "licence_group_count": sum(1 for name in remote.groups if state.group(name).roles),
        "is_org_admin": "atlassian/org-admin" in remote.platform_roles,
    }
    access = ProductAccess.objects.filter(account=account).select_related("product")
    actual = {
        "status": account.status,
        "memberships": sorted(Membership.objects.filter(account=account).values_list("group__group_id", flat=True)),
        "product_access": {row.product.resource_id: row.last_active for row in access},
        "last_active": account.last_active,
        "billable": account.billable,
        "licence_group_count": account.licence_group_count,
        "is_org_admin": account.is_org_admin,
    }
    return {name: (actual[name], value) for name, value in expected.items() if actual[name] != value}


def assert_mirror_equals_simulator(simulator, accounts) -> None:
    accounts = list(accounts)
    assert accounts, "no account to compare"
    problems = {a.account_id: diff for a in accounts if (diff := mirror_differences(simulator, a))}
    assert not problems, problems


def assert_next_sync_changes_nothing(organization, client, accounts) -> dict:
    """A full sync, past the margin that defers accounts the portal just changed, finds nothing to
    change: no account, membership or product access written, no audit event about these accounts."""
    accounts = list(accounts)
    started = timezone.now()
    with time_machine.travel(started + users.CHANGE_MARGIN * 2 + timedelta(seconds=1), tick=True):
        result = organization_sync(organization=organization, client=client)
    assert result.ok, result.error
    changes = {name: result.counts.get(name, 0) for name in SYNC_CHANGES if result.counts.get(name, 0)}
    assert not changes, changes
    seen = AuditEvent.objects.filter(correlation_id=result.run.correlation_id).exclude(
        action=AuditAction.SYNC_COMPLETED
    )
    assert not seen.filter(target_id__in=[str(a.pk) for a in accounts]).exists()
    assert not seen.filter(target_type="accounts.membership").exists()
    return result.counts
