"""Fixtures of the fault tests: clients that record their waits instead of sleeping, a clean first
sync, destructive changes staged in Atlassian, and a policy that acts (see helpers.py for the checks)."""

from datetime import timedelta

import pytest

from accounts.clients import client_for
from accounts.sync.runner import organization_sync
from tests.accounts.conftest import SIM_NOW, organization, simulator  # noqa: F401  (fixtures)
from tests.factories import jira_suspend_policy
from tests.resilience.helpers import PAGE, Staged, Waits


@pytest.fixture
def make_client(organization):  # noqa: F811
    """Clients for the simulator that record each wait instead of sleeping (``client.waits``)."""
    made = []

    def make(**overrides):
        waits = Waits()
        options = dict(
            sleep=waits.append,
            clock=waits.clock,
            now=waits.now,
            page_size=PAGE,
            max_attempts=4,
            max_total_wait=60,
            timeout=(2.0, 5.0),
        )
        options.update(overrides)
        client = client_for(organization, **options)
        client.waits = waits
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def mirrored(organization, make_client):  # noqa: F811
    """A complete, clean first sync: the mirror every fault test starts from."""
    result = organization_sync(organization=organization, client=make_client())
    assert result.ok, result.error
    organization.refresh_from_db()
    return organization


@pytest.fixture
def staged(simulator, mirrored):  # noqa: F811
    """Three accounts removed and three whose activity vanished in Atlassian (both under the
    sync's 10% safety shares, so a complete sync applies them and a partial one must not).

    The blanked ones are recently active Jira users who joined long ago: if their activity were
    blanked, the suspend policy would count their inactivity from the day they joined and act.
    """
    active = simulator.state.account_ids(status="active", product="jira-software", org_admin=False)
    recent, blanked = [], []
    for account_id in active:
        user = simulator.state.user(account_id)
        seen = user.last_active.get("jira-software")
        if seen and SIM_NOW - seen < timedelta(days=30):
            recent.append(account_id)
            if SIM_NOW - user.added_to_org > timedelta(days=400) and len(blanked) < 3:
                blanked.append(account_id)
    # Removed ones are recently active too, so that no policy had any business with them.
    removed = [a for a in recent if a not in blanked][-3:]
    assert len(blanked) == 3
    assert len(removed) == 3
    for account_id in removed:
        simulator.state.remove_user(account_id)
    for account_id in blanked:
        for product in simulator.state.user(account_id).last_active:
            simulator.state.set_last_active(account_id, product, None)
    return Staged(removed=removed, blanked=blanked)


@pytest.fixture
def suspend_policy(mirrored):
    """Enforce mode, suspend Jira users inactive for 90 days, no warning period, no cap to speak of."""
    return jira_suspend_policy(mirrored)
